import * as tf from '@tensorflow/tfjs';
import { InputError } from '../core/errors.js';
import type { FeatureStats } from '../data/normalizer.js';
import { chainLogLikelihood, generateThroughChain, type DensityBlock, type LikelihoodResult } from '../flow/lfm.js';
import { SolverConfig, type SolverOptions, type VelocityField } from '../flow/ode.js';
import { ParamRegistry, ParamStore, type WeightMap } from '../nets/params.js';
import { createVelocityNet } from '../nets/velocity-net.js';
import { netDimsOf } from './config.js';
import type { FlowPolicy } from './flow-policy.js';
import { blockCount, blockPrefix, LfmPolicyConfig } from './lfm-config.js';
import { SampledPolicy } from './sampled-policy.js';
import { netVelocityField, stripTimes } from './velocity-field.js';

/**
 * The parameter declarations of a whole chain: every parameter of the
 * block network once per block, block n's under the prefix `block{n}.`
 * (n = 1 next to the data). What an LFM checkpoint holds and is checked
 * against.
 */
export function chainRegistry(config: LfmPolicyConfig): ParamRegistry {
  const block = createVelocityNet(config.net, netDimsOf(config)).registry;
  const chain = new ParamRegistry();
  for (let n = 1; n <= blockCount(config.lfm.schedule); n++) {
    for (const spec of block.specs) chain.declare(`${blockPrefix(n)}${spec.name}`, spec.shape, spec.init);
  }
  return chain;
}

/** Chain weights (prefixed) -> one weight map per block, block 1 first. */
export function splitChainWeights(weights: WeightMap, blocks: number): WeightMap[] {
  const out: WeightMap[] = Array.from({ length: blocks }, () => new Map());
  for (const [name, w] of weights) {
    const m = /^block(\d+)\.(.+)$/.exec(name);
    const n = m ? Number(m[1]) : 0;
    if (!m || n < 1 || n > blocks) throw new RangeError(`splitChainWeights: '${name}' is not a parameter of blocks 1..${blocks}`);
    out[n - 1].set(m[2], w);
  }
  return out;
}

/** One weight map per block, block 1 first -> chain weights (prefixed). */
export function joinChainWeights(blocks: readonly WeightMap[]): WeightMap {
  const out: WeightMap = new Map();
  blocks.forEach((b, i) => {
    for (const [name, w] of b) out.set(`${blockPrefix(i + 1)}${name}`, w);
  });
  return out;
}

/**
 * A Local Flow Matching policy (lfm-config.ts): N velocity networks of one
 * architecture, generating an action chunk from noise through block N,
 * then N-1, ..., 1, each integrated from t = 0 (its noisier end) to t = 1
 * (its data-side end) with the inference solver, conditioned on the last
 * To observations. A fixed-step solver costs N x steps network calls.
 *
 * `sampleNormalized` has FlowPolicy's contract, so an LFM chain can teach
 * a one-step student (train/distill-trainer.ts) as a flow teacher does.
 */
export class LocalFlowPolicy extends SampledPolicy<LfmPolicyConfig> {
  /** The weights of each block: `blocks[0]` is block 1 (next to the data), the last the free block N (next to the noise). */
  readonly blocks: ParamStore[];

  /** `weights`: the whole chain's, block n's under `block{n}.` (checked against the config, errors naming `source`). */
  constructor(config: LfmPolicyConfig, stats: Readonly<Record<string, FeatureStats>>, weights: WeightMap, options: { seed?: number; source?: string } = {}) {
    const source = options.source ?? 'weights';
    chainRegistry(config).validate(weights, source);
    super(config, stats, options);
    this.blocks = splitChainWeights(weights, blockCount(config.lfm.schedule)).map((w) => ParamStore.fromWeights(this.net.registry, w, { kind: 'constant', source }));
  }

  /**
   * A flow-matching policy as a chain of one free block (same weights, same
   * sampler, same samples): with it, the chain's exact log-likelihood
   * serves flow matching too. Only the linear path has this reading (FM's
   * other paths are not an LFM interpolant).
   */
  static fromFlowPolicy(flow: FlowPolicy): LocalFlowPolicy {
    const { kind: _kind, flow: spec, ...rest } = flow.config;
    const { path, ...flowSpec } = spec;
    if (path !== 'linear') throw new InputError('flow.path', path, "'linear' (a one-block chain with the linear interpolant is flow matching on the linear path)");
    const config = LfmPolicyConfig.parse({ ...rest, kind: 'lfm', flow: flowSpec, lfm: { schedule: { kind: 'explicit', steps: [] }, interpolant: 'linear' } });
    return new LocalFlowPolicy(config, flow.stats, joinChainWeights([flow.params.toWeights()]));
  }

  get numBlocks(): number {
    return this.blocks.length;
  }

  /** The weights of the chain, block n's under `block{n}.` (what a checkpoint stores). */
  weights(): WeightMap {
    return joinChainWeights(this.blocks.map((b) => b.toWeights()));
  }

  /**
   * Sample `batch` chunks in normalised space (FlowPolicy's contract):
   * `cond` is [batch, condSize] (normalised observation windows), `noise`
   * [batch, chunkSize] the starting points, N(0, I) at block N's t = 0.
   * Returns the points reached at block 1's t = 1 and the network calls
   * over all blocks; `solver` (each block's) overrides the config's.
   */
  sampleNormalized(cond: Float32Array, noise: Float32Array, batch: number, solver: Partial<SolverOptions> = {}): { chunks: Float32Array; nfe: number } {
    const opts = SolverConfig.parse({ ...this.config.inference, ...stripTimes(solver) });
    if (noise.length !== batch * this.chunkSize) throw new RangeError(`noise has ${noise.length} values, expected ${batch} x ${this.chunkSize}`);
    const fields = this.velocityFields(cond, batch);
    try {
      const result = generateThroughChain(fields.velocities, noise, opts);
      return { chunks: Float32Array.from(result.x), nfe: result.nfe };
    } finally {
      fields.dispose();
    }
  }

  /**
   * The states of generation, [batch, N + 1, chunkSize]: row b holds its
   * noise (the first chunkSize values of its `noise` row, which is
   * [batch, stateSize]: any further values are ignored), then the point
   * block N reached, ..., the point block 1 reached (the chunk). What the
   * per-block distillation caches: block n's (input, output) are states
   * N - n and N - n + 1.
   */
  sampleStates(cond: Float32Array, noise: Float32Array, batch: number, solver: Partial<SolverOptions> = {}): { chunks: Float32Array } {
    const opts = SolverConfig.parse({ ...this.config.inference, ...stripTimes(solver) });
    const D = this.chunkSize;
    const S = this.stateSize;
    if (noise.length !== batch * S) throw new RangeError(`noise has ${noise.length} values, expected ${batch} x ${S}`);
    const states = new Float32Array(batch * S);
    const start = new Float32Array(batch * D);
    for (let b = 0; b < batch; b++) start.set(noise.subarray(b * S, b * S + D), b * D);
    const write = (slot: number, x: ArrayLike<number>): void => {
      for (let b = 0; b < batch; b++) for (let j = 0; j < D; j++) states[b * S + slot * D + j] = x[b * D + j];
    };
    write(0, start);
    const N = this.numBlocks;
    const fields = this.velocityFields(cond, batch);
    try {
      generateThroughChain(fields.velocities, start, opts, (n, x) => write(N - n + 1, x));
    } finally {
      fields.dispose();
    }
    return { chunks: states };
  }

  /** Values per row of sampleStates: (N + 1) x chunkSize. */
  get stateSize(): number {
    return (this.numBlocks + 1) * this.chunkSize;
  }

  /**
   * The velocity of every block for a batch of `batch` conditions, block 1
   * first, each in its own time (t = 0 noisier end, t = 1 data-side end).
   * Dispose them when done: they hold the condition tensors.
   */
  velocityFields(cond: Float32Array, batch: number): { velocities: VelocityField[]; dispose(): void } {
    const fields = this.blocks.map((p) => netVelocityField(this.net, p, cond, batch));
    return { velocities: fields.map((f) => f.velocity), dispose: () => fields.forEach((f) => f.dispose()) };
  }

  /**
   * Every block as a DensityBlock (flow/lfm.ts) for a batch of `batch`
   * conditions: its velocity and its exact divergence div v = sum_j dv_j/dx_j,
   * by autodiff, one backward pass per chunk dimension (so D + 1 network
   * passes per evaluation: meant for small chunks and for checking).
   */
  densityBlocks(cond: Float32Array, batch: number): { blocks: DensityBlock[]; dispose(): void } {
    const D = this.chunkSize;
    if (cond.length !== batch * this.condSize) throw new RangeError(`cond has ${cond.length} values, expected ${batch} x ${this.condSize}`);
    const condT = tf.tensor2d(cond, [batch, this.condSize]);
    const xIn = new Float32Array(batch * D);
    const blocks = this.blocks.map((params): DensityBlock => {
      // chainLogLikelihood asks for the divergence right after the velocity at the same point: computed together, handed back from here.
      let cached: { t: number; x: Float64Array; div: Float64Array } | null = null;
      const both = (t: number, x: Float64Array): { v: Float32Array; div: Float64Array } => {
        for (let i = 0; i < x.length; i++) xIn[i] = x[i];
        const xT = tf.tensor2d(xIn, [batch, D]);
        const tT = tf.fill([batch], t) as tf.Tensor1D;
        const f = (xx: tf.Tensor2D): tf.Tensor2D => this.net.apply(params, xx, tT, condT);
        const vT = tf.tidy(() => f(xT));
        const v = vT.dataSync() as Float32Array;
        vT.dispose();
        const div = new Float64Array(batch);
        for (let j = 0; j < D; j++) {
          const g = tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.slice(f(xx as tf.Tensor2D), [0, j], [batch, 1])))(xT));
          const gv = g.dataSync();
          g.dispose();
          for (let i = 0; i < batch; i++) div[i] += gv[i * D + j];
        }
        tf.dispose([xT, tT]);
        cached = { t, x, div };
        return { v, div };
      };
      return {
        velocity: (t, x) => both(t, x).v,
        divergence: (t, x) => (cached && cached.t === t && cached.x === x ? cached.div : both(t, x).div),
      };
    });
    return { blocks, dispose: () => condT.dispose() };
  }

  /**
   * Exact log-likelihood of normalised chunks `chunks` [batch, chunkSize]
   * under their conditions `cond` [batch, condSize], in normalised units:
   * the chunks pushed through blocks 1..N (each t = 1 -> 0) with the
   * change of variables (flow/lfm.ts chainLogLikelihood) and autodiff
   * divergences (densityBlocks). Add `logJacobian` for dataset units.
   */
  logLikelihoodNormalized(cond: Float32Array, chunks: Float32Array, batch: number, solver: Partial<SolverOptions> = {}): LikelihoodResult {
    const opts = SolverConfig.parse({ ...this.config.inference, ...stripTimes(solver) });
    if (chunks.length !== batch * this.chunkSize) throw new RangeError(`chunks has ${chunks.length} values, expected ${batch} x ${this.chunkSize}`);
    const d = this.densityBlocks(cond, batch);
    try {
      return chainLogLikelihood(d.blocks, chunks, this.chunkSize, opts);
    } finally {
      d.dispose();
    }
  }

  /**
   * log |det| of the action normalisation over a chunk: a log-density of
   * normalised chunks plus this is the log-density in dataset units.
   */
  get logJacobian(): number {
    const { key, dim, horizon } = this.config.action;
    const zero = this.normalizer.normalize(key, new Float32Array(dim));
    const one = this.normalizer.normalize(key, new Float32Array(dim).fill(1));
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += Math.log(Math.abs(one[j] - zero[j]));
    return horizon * sum;
  }

  dispose(): void {
    for (const b of this.blocks) b.dispose();
  }
}
