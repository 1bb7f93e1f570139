import { Rng } from '../core/rng.js';
import type { FeatureStats, Normalizer } from '../data/normalizer.js';
import type { SolverOptions } from '../flow/ode.js';
import { createVelocityNet, type NetConfig, type VelocityNet } from '../nets/velocity-net.js';
import { netDimsOf, normalizerFor, type FlowPolicyConfig } from './config.js';
import type { LfmPolicyConfig } from './lfm-config.js';
import { ObservationHistory } from './observation-history.js';
import type { ActionChunk, ActOptions, ObservationFrame, Policy } from './policy.js';
import { initialNoise } from './velocity-field.js';

export interface FlowActOptions extends ActOptions {
  /** Solver overrides for this call (method, steps, tolerances). */
  solver?: Partial<SolverOptions>;
}

/**
 * What the policies that integrate a chunk out of noise share (the flow
 * teacher, an LFM chain): the network architecture, the observation
 * history, the generator of the starting noise, and act() — condition on
 * the last To observations, draw the noise, sample in normalised space,
 * unnormalise. Subclasses say how a normalised batch is sampled.
 */
export abstract class SampledPolicy<C extends FlowPolicyConfig | LfmPolicyConfig> implements Policy {
  /** The architecture of the velocity network(s). */
  readonly net: VelocityNet;
  readonly normalizer: Normalizer;
  protected readonly history: ObservationHistory;
  protected rng: Rng;

  constructor(
    readonly config: C,
    readonly stats: Readonly<Record<string, FeatureStats>>,
    options: { seed?: number; source?: string },
  ) {
    this.net = createVelocityNet(config.net as NetConfig, netDimsOf(config));
    this.normalizer = normalizerFor(config, stats, options.source);
    this.history = new ObservationHistory(config.observation.features, config.observation.horizon);
    this.rng = new Rng(options.seed ?? 0);
  }

  get chunkSize(): number {
    return this.config.action.horizon * this.config.action.dim;
  }

  get condSize(): number {
    return this.net.dims.condDim;
  }

  reset(options: { seed?: number } = {}): void {
    this.history.reset();
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
  }

  act(observation: ObservationFrame | readonly ObservationFrame[], options: FlowActOptions = {}): ActionChunk {
    const started = performance.now();
    this.history.push(observation);
    const cond = this.history.condition(this.normalizer);
    const noise = initialNoise(options.noise, this.rng, this.config.action);
    const { chunks, nfe } = this.sampleNormalized(cond, noise, 1, options.solver);
    const actions = this.normalizer.unnormalize(this.config.action.key, chunks, chunks);
    return {
      actions,
      horizon: this.config.action.horizon,
      actionDim: this.config.action.dim,
      start: this.config.observation.horizon - 1,
      execute: this.config.action.execute,
      latencyMs: performance.now() - started,
      nfe,
    };
  }

  /**
   * Sample `batch` chunks in normalised space: `cond` is [batch, condSize]
   * (normalised observation windows), `noise` [batch, chunkSize] the
   * starting points (N(0, I) at t = 0). Returns the chunks and the network
   * calls; `solver` overrides the config's.
   */
  abstract sampleNormalized(cond: Float32Array, noise: Float32Array, batch: number, solver?: Partial<SolverOptions>): { chunks: Float32Array; nfe: number };

  abstract dispose(): void;
}
