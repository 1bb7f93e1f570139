import { Rng } from '../core/rng.js';
import type { FeatureStats } from '../data/normalizer.js';
import { integrate, SolverConfig, type SolverOptions, type VelocityField } from '../flow/ode.js';
import { createVelocityNet } from '../nets/velocity-net.js';
import { ParamStore, type WeightMap } from '../nets/params.js';
import { FlowPolicyConfig, netDimsOf } from './config.js';
import { SampledPolicy } from './sampled-policy.js';
import { netVelocityField, stripTimes } from './velocity-field.js';

export type { FlowActOptions } from './sampled-policy.js';

/**
 * The flow-matching teacher: samples an action chunk by integrating its
 * learned velocity from noise (t = 0) to data (t = 1), conditioned on the
 * last To observations. Solver and step count are chosen at inference.
 */
export class FlowPolicy extends SampledPolicy<FlowPolicyConfig> {
  readonly params: ParamStore;

  constructor(config: FlowPolicyConfig, stats: Readonly<Record<string, FeatureStats>>, weights: WeightMap, options: { seed?: number; trainable?: boolean; source?: string } = {}) {
    super(config, stats, options);
    this.params = ParamStore.fromWeights(this.net.registry, weights, { kind: options.trainable ? 'trainable' : 'constant', source: options.source });
  }

  /** A policy with freshly initialised weights (for training). */
  static initialize(config: FlowPolicyConfig, stats: Record<string, FeatureStats>, seed: number): FlowPolicy {
    const parsed = FlowPolicyConfig.parse(config);
    const registry = createVelocityNet(parsed.net, netDimsOf(parsed)).registry;
    return new FlowPolicy(parsed, stats, registry.initialize(new Rng(seed)), { seed, trainable: true });
  }

  /**
   * Sample `batch` chunks in normalised space: `cond` is [batch, condSize]
   * (normalised observation windows), `noise` [batch, chunkSize] the
   * starting points at t = 0. Returns the points reached at t = 1.
   */
  sampleNormalized(cond: Float32Array, noise: Float32Array, batch: number, solver: Partial<SolverOptions> = {}): { chunks: Float32Array; nfe: number } {
    const opts = SolverConfig.parse({ ...this.config.inference, ...stripTimes(solver) });
    if (noise.length !== batch * this.chunkSize) throw new RangeError(`noise has ${noise.length} values, expected ${batch} x ${this.chunkSize}`);
    const field = this.velocityField(cond, batch);
    try {
      const result = integrate(field.velocity, noise, { ...opts, t0: 0, t1: 1 });
      return { chunks: Float32Array.from(result.x), nfe: result.nfe };
    } finally {
      field.dispose();
    }
  }

  /**
   * The learned velocity v(t, x | cond) for a batch of `batch` conditions,
   * as a plain function for the ODE solvers (t = 0 noise, t = 1 data).
   * Dispose it when done: it holds the condition tensor.
   */
  velocityField(cond: Float32Array, batch: number): { velocity: VelocityField; dispose(): void } {
    return netVelocityField(this.net, this.params, cond, batch);
  }

  dispose(): void {
    this.params.dispose();
  }
}
