import * as tf from '@tensorflow/tfjs';
import { InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { FeatureStats, Normalizer } from '../data/normalizer.js';
import { linearPoint } from '../flow/path.js';
import { matMul } from '../nets/dense.js';
import { ParamRegistry, ParamStore, type WeightMap } from '../nets/params.js';
import { MlpVelocityNet } from '../nets/mlp.js';
import { createVelocityNet, type NetConfig, type NetDims, type VelocityNet } from '../nets/velocity-net.js';
import { GateNet } from '../nets/gate-net.js';
import { AnchorGate } from './anchor-gate.js';
import { netDimsOf, normalizerFor } from './config.js';
import { ObservationHistory } from './observation-history.js';
import type { FlowPolicy } from './flow-policy.js';
import type { ActionChunk, ActOptions, ObservationFrame, Policy } from './policy.js';
import { RealtimeMlp, type RealtimeKernel } from './realtime-mlp.js';
import { GATE_PREFIX, latentDimOf, netOffRealtimePath, REFINE_PREFIX, StudentConfig, studentConfigFor, type StudentAnchors, type StudentRefine } from './student-config.js';

/** The learned latent map P [latentDim, chunk], present when latentDim is not the chunk size. */
export const LATENT_PROJECTION = 'latent.proj.weight';

/**
 * The student generator G(z, c) = P z + v(P z, t = 0, c) over a velocity
 * trunk (t = 0 is noise, t = 1 data): batches are flat, z [B, latentDim],
 * c [B, condDim], G [B, chunk]. Works with any trunk through tfjs; the
 * parameters are the trunk's (same names as the teacher's) plus P. A
 * refined student (StudentRefine) adds a second net with its own registry
 * and reads a latent of trunkLatentDim + chunk values: (z, eps). An
 * anchored student (StudentAnchors) has a gate net with its own registry,
 * which chooses z among its anchors (outside apply: G reads any z).
 */
export class StudentNet {
  readonly trunk: VelocityNet;
  readonly registry: ParamRegistry;
  readonly chunkSize: number;
  readonly projection: string | null;
  /** The refining net and its time tau, for a refined student. */
  readonly refine: { net: VelocityNet; time: number } | null;
  /** The whole latent: the trunk's, then the refinement's noise eps (chunk values) when refined. */
  readonly latentDim: number;
  /** The gate choosing z among anchors, for an anchored student. */
  readonly gate: GateNet | null;

  constructor(
    readonly netConfig: NetConfig,
    readonly dims: NetDims,
    readonly trunkLatentDim: number,
    refine?: StudentRefine,
    anchors?: StudentAnchors,
  ) {
    this.trunk = createVelocityNet(netConfig, dims);
    this.registry = this.trunk.registry;
    this.chunkSize = dims.horizon * dims.actionDim;
    this.projection = trunkLatentDim === this.chunkSize ? null : this.registry.declare(LATENT_PROJECTION, [trunkLatentDim, this.chunkSize], { kind: 'fanIn', fanIn: trunkLatentDim });
    this.refine = refine ? { net: createVelocityNet(refine.net, dims), time: refine.time } : null;
    this.latentDim = trunkLatentDim + (refine ? this.chunkSize : 0);
    this.gate = anchors ? new GateNet(anchors, dims.condDim, trunkLatentDim) : null;
  }

  /** Every parameter a checkpoint of this student holds: the trunk's, the refining net's under `refine.`, the gate's under `gate.`. */
  checkpointRegistry(): ParamRegistry {
    if (!this.refine && !this.gate) return this.registry;
    const all = new ParamRegistry();
    for (const s of this.registry.specs) all.declare(s.name, s.shape, s.init);
    for (const s of this.refine?.net.registry.specs ?? []) all.declare(REFINE_PREFIX + s.name, s.shape, s.init);
    for (const s of this.gate?.registry.specs ?? []) all.declare(GATE_PREFIX + s.name, s.shape, s.init);
    return all;
  }

  /** emb(0), the time embedding at noise the MLP trunk always reads (the real-time path folds it into a bias). */
  timeEmbeddingAtNoise(p: ParamStore): Float32Array {
    return timeEmbeddingOf(this.trunk, p, 0);
  }

  /** emb(tau) of the refining net (folded into its first bias on the real-time path). */
  refineTimeEmbedding(p: ParamStore): Float32Array {
    if (!this.refine) throw new Error('not a refined student');
    return timeEmbeddingOf(this.refine.net, p, this.refine.time);
  }

  /** G(z, c); a refined student's also needs its refining net's parameters. */
  apply(p: ParamStore, z: tf.Tensor2D, cond: tf.Tensor2D, refineParams?: ParamStore): tf.Tensor2D {
    return tf.tidy(() => {
      const B = z.shape[0];
      const zt = this.refine ? z.slice([0, 0], [B, this.trunkLatentDim]) : z;
      const x = this.projection ? matMul(zt, p.get(this.projection) as tf.Tensor2D) : zt;
      const student = tf.add(x, this.trunk.apply(p, x, tf.zeros([B]) as tf.Tensor1D, cond)) as tf.Tensor2D;
      if (!this.refine) return student;
      if (!refineParams) throw new Error("a refined student's generator needs the refining net's parameters");
      const tau = this.refine.time;
      const eps = z.slice([0, this.trunkLatentDim], [B, this.chunkSize]);
      // linearPoint's x_t at t = tau from eps to the student's chunk (flow/path.ts), on tensors.
      const xt = tf.add(tf.mul(eps, 1 - tau), tf.mul(student, tau)) as tf.Tensor2D;
      const v = this.refine.net.apply(refineParams, xt, tf.fill([B], tau) as tf.Tensor1D, cond);
      return tf.add(xt, tf.mul(v, 1 - tau)) as tf.Tensor2D;
    });
  }
}

function timeEmbeddingOf(net: VelocityNet, p: ParamStore, t: number): Float32Array {
  if (!(net instanceof MlpVelocityNet)) throw new Error('the real-time path needs MLP nets');
  const emb = tf.tidy(() => net.embedTime(p, tf.fill([1], t) as tf.Tensor1D));
  const values = emb.dataSync() as Float32Array;
  emb.dispose();
  return values;
}

/** The student network a config describes (no weights). */
export function studentNetOf(config: StudentConfig): StudentNet {
  return new StudentNet(config.net, netDimsOf(config), latentDimOf(config), config.refine, config.anchors);
}

/** A student's weights split: the trunk's, the refining net's and the gate's (prefixes removed). */
export function splitStudentWeights(weights: WeightMap): { trunk: WeightMap; refine: WeightMap; gate: WeightMap } {
  const parts = { trunk: new Map(), refine: new Map(), gate: new Map() } satisfies Record<string, WeightMap>;
  for (const [name, w] of weights) {
    if (name.startsWith(REFINE_PREFIX)) parts.refine.set(name.slice(REFINE_PREFIX.length), w);
    else if (name.startsWith(GATE_PREFIX)) parts.gate.set(name.slice(GATE_PREFIX.length), w);
    else parts.trunk.set(name, w);
  }
  return parts;
}

export interface StudentActOptions extends ActOptions {
  /**
   * The latent z (latentDim values) instead of a draw from the policy's
   * generator (an anchored student's gate is then not consulted). `noise`
   * is accepted as the same thing (with the default latent size, z plays
   * the role of the teacher's initial noise).
   */
  latent?: ArrayLike<number>;
}

export type StudentEngine = 'auto' | 'realtime' | 'tfjs';

export interface StudentPolicyOptions {
  seed?: number;
  trainable?: boolean;
  source?: string;
  /**
   * 'auto' (default): the allocation-free real-time path for MLP trunks,
   * tfjs otherwise; 'tfjs' forces tfjs; 'realtime' requires the real-time
   * path. Trainable students always run on tfjs.
   */
  engine?: StudentEngine;
  /**
   * Kernel of the real-time path (default: float32 WebAssembly SIMD where
   * available, else plain JavaScript); 'wasm-int16' quantises weights and
   * activations for speed (see RealtimeKernel).
   */
  kernel?: RealtimeKernel;
  /**
   * Milliseconds clock for ActionChunk.latencyMs (default performance.now,
   * which allocates a few bytes per read in Node 20).
   */
  clock?: () => number;
}

/**
 * The one-step student: one network call per act(), G(z, obs) with
 * z ~ N(0, I) from its own seeded generator (nfe = 1), or, for an anchored
 * student, z the anchor its gate draws for the observation (the gate is a
 * small MLP beside the trunk, StudentAnchors).
 *
 * On the real-time path (MLP trunks, the default), act() allocates nothing
 * in steady state: the returned ActionChunk and its `actions` array are
 * the same objects on every call and are overwritten by the next act();
 * copy them (`chunk.actions.slice()`) to keep a chunk past the next call.
 * The tfjs path returns fresh objects.
 */
export class StudentPolicy implements Policy {
  readonly net: StudentNet;
  readonly normalizer: Normalizer;
  readonly params: ParamStore;
  readonly latentDim: number;
  readonly engine: 'realtime' | 'tfjs';
  /** The real-time engine, when that path is in use. */
  readonly realtime: RealtimeMlp | null;
  /** A refined student's refining net on the real-time path: x_tau + (1 - tau) v_phi(x_tau, tau, c). */
  readonly realtimeRefine: RealtimeMlp | null;
  /** The refining net's parameters, for a refined student. */
  readonly refineParams: ParamStore | null;
  /** An anchored student's gate (on the real-time engine whichever engine runs the trunk). */
  readonly gate: AnchorGate | null;
  private readonly gateWeights: WeightMap | null;
  private readonly history: ObservationHistory;
  private readonly cond: Float32Array;
  private readonly condViews: Float32Array[][];
  /** Where the latent is written for the network (the real-time engine's input slot, or a plain array). */
  private readonly latentBuf: Float32Array;
  /** The latent as drawn: a plain array (writing draws straight into WebAssembly memory boxes every value in V8). */
  private readonly latentDraw: Float32Array;
  /** Views of latentDraw: the trunk's z, and a refined student's eps. */
  private readonly latentTrunk: Float32Array;
  private readonly latentEps: Float32Array;
  private readonly chunk: ActionChunk;
  private rng: Rng;
  private readonly clock: () => number;

  constructor(
    readonly config: StudentConfig,
    readonly stats: Readonly<Record<string, FeatureStats>>,
    weights: WeightMap,
    options: StudentPolicyOptions = {},
  ) {
    this.net = studentNetOf(config);
    this.latentDim = this.net.latentDim;
    this.normalizer = normalizerFor(config, stats, options.source);
    if (config.refine && options.trainable) throw new InputError('refine', config.refine, 'no refine stage on a trainable student (a refined student is inference-only: distil, then refine)', options.source);
    // All of them against their full names first, so that a missing or stray tensor is named as the checkpoint holds it.
    this.net.checkpointRegistry().validate(weights, options.source ?? 'weights');
    const split = splitStudentWeights(weights);
    this.params = ParamStore.fromWeights(this.net.registry, split.trunk, { kind: options.trainable ? 'trainable' : 'constant', source: options.source });
    this.refineParams = this.net.refine ? ParamStore.fromWeights(this.net.refine.net.registry, split.refine, { kind: 'constant', source: options.source }) : null;
    this.gateWeights = this.net.gate ? split.gate : null;
    const wanted = options.engine ?? 'auto';
    const offPath = netOffRealtimePath(config);
    const canRealtime = !offPath && !options.trainable;
    if (wanted === 'realtime' && !canRealtime) {
      throw new InputError('engine', 'realtime', `'auto' or 'tfjs': the real-time path runs ${options.trainable ? 'inference-only students' : 'MLP nets only'}`, options.source);
    }
    this.engine = wanted !== 'tfjs' && canRealtime ? 'realtime' : 'tfjs';
    if (options.kernel !== undefined && this.engine !== 'realtime') {
      throw new InputError('kernel', options.kernel, `no kernel option: it chooses the real-time path's kernel, and this student runs on tfjs (${canRealtime ? "engine 'tfjs'" : options.trainable ? 'trainable' : `a ${offPath?.kind} net`})`, options.source);
    }
    this.history = new ObservationHistory(config.observation.features, config.observation.horizon);
    // The gate runs on the real-time engine on either path; on the real-time path, with the trunk's kernel.
    this.gate = config.anchors && this.net.gate ? new AnchorGate(config.anchors, this.net.dims.condDim, this.net.trunkLatentDim, split.gate, { kernel: this.engine === 'realtime' ? options.kernel : undefined }) : null;
    const dims = this.net.dims;
    const D = this.net.chunkSize;
    if (this.engine === 'realtime' && config.net.kind === 'mlp') {
      const timeEmbedding = this.net.timeEmbeddingAtNoise(this.params);
      this.realtime = new RealtimeMlp({ net: config.net, chunk: D, condDim: dims.condDim, latentDim: this.net.trunkLatentDim, timeEmbedding }, split.trunk, { kernel: options.kernel });
      this.realtimeRefine =
        config.refine?.net.kind === 'mlp' && split.refine
          ? new RealtimeMlp(
              { net: config.refine.net, chunk: D, condDim: dims.condDim, latentDim: D, timeEmbedding: this.net.refineTimeEmbedding(this.refineParams!), step: 1 - config.refine.time },
              split.refine,
              { kernel: options.kernel },
            )
          : null;
      this.cond = this.realtime.cond;
      this.latentBuf = this.realtime.latent;
    } else {
      this.realtime = null;
      this.realtimeRefine = null;
      this.cond = new Float32Array(dims.condDim);
      this.latentBuf = new Float32Array(this.latentDim);
    }
    this.latentDraw = new Float32Array(this.latentDim);
    this.latentTrunk = this.latentDraw.subarray(0, this.net.trunkLatentDim);
    this.latentEps = this.latentDraw.subarray(this.net.trunkLatentDim);
    this.condViews = this.history.viewsOf(this.cond);
    this.chunk = {
      actions: new Float32Array(this.net.chunkSize),
      horizon: config.action.horizon,
      actionDim: config.action.dim,
      start: config.observation.horizon - 1,
      execute: config.action.execute,
      latencyMs: 0,
      nfe: config.refine ? 2 : 1,
    };
    this.rng = new Rng(options.seed ?? 0);
    this.clock = options.clock ?? (() => performance.now());
  }

  /** A student with freshly initialised weights (no teacher). */
  static initialize(config: StudentConfig, stats: Record<string, FeatureStats>, seed: number, options: Omit<StudentPolicyOptions, 'seed'> = {}): StudentPolicy {
    const parsed = StudentConfig.parse(config);
    return new StudentPolicy(parsed, stats, studentNetOf(parsed).registry.initialize(new Rng(seed)), { trainable: true, ...options, seed });
  }

  /**
   * The warm start: the teacher's weights as the trunk. With the default
   * latent size, G(z, c) = z + v(z, 0, c) is exactly the teacher's one-step
   * Euler sampler from noise z. Otherwise P starts with N(0, 1/latentDim)
   * entries from `seed`, so each coordinate of P z is roughly N(0, 1) like
   * the teacher's noise. MLP and U-Net teachers alike (U-Net students run on tfjs).
   */
  static warmStartWeights(teacher: Pick<FlowPolicy, 'params' | 'chunkSize'>, latentDim: number, seed = 0): WeightMap {
    const weights: WeightMap = new Map();
    for (const [name, w] of teacher.params.toWeights()) weights.set(name, w);
    const d = teacher.chunkSize;
    if (latentDim !== d) {
      const rng = new Rng(seed);
      const data = new Float32Array(latentDim * d);
      const scale = 1 / Math.sqrt(latentDim);
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * scale;
      weights.set(LATENT_PROJECTION, { shape: [latentDim, d], data });
    }
    return weights;
  }

  static fromTeacher(teacher: FlowPolicy, options: StudentPolicyOptions & { latentDim?: number } = {}): StudentPolicy {
    const config = studentConfigFor(teacher.config, { latentDim: options.latentDim });
    const { latentDim: _l, ...rest } = options;
    return new StudentPolicy(config, teacher.stats, StudentPolicy.warmStartWeights(teacher, latentDimOf(config), options.seed ?? 0), rest);
  }

  get chunkSize(): number {
    return this.net.chunkSize;
  }

  /** The weights as a checkpoint stores them (a refined student's refining net under `refine.`, an anchored student's gate under `gate.`). */
  toWeights(): WeightMap {
    const weights = this.params.toWeights();
    for (const [name, w] of this.refineParams?.toWeights() ?? []) weights.set(REFINE_PREFIX + name, w);
    for (const [name, w] of this.gateWeights ?? []) weights.set(GATE_PREFIX + name, { shape: [...w.shape], data: w.data.slice() });
    return weights;
  }

  /**
   * Latents [batch, latentDim] for conditions [batch, condSize] as act()
   * draws them from `rng`: z ~ N(0, I), or an anchored student's gate's
   * anchor for each condition (then a refined student's eps ~ N(0, I)).
   */
  drawLatents(cond: Float32Array, batch: number, rng: Rng): Float32Array {
    if (cond.length !== batch * this.condSize) throw new RangeError(`cond has ${cond.length} values, expected ${batch} x ${this.condSize}`);
    const out = new Float32Array(batch * this.latentDim);
    if (!this.gate) return rng.fillNormal(out);
    const C = this.condSize;
    const L = this.latentDim;
    for (let b = 0; b < batch; b++) {
      this.gate.writeAnchor(this.gate.choose(cond.subarray(b * C, (b + 1) * C), rng), out, b * L);
      if (L > this.net.trunkLatentDim) rng.fillNormal(out.subarray(b * L + this.net.trunkLatentDim, (b + 1) * L));
    }
    return out;
  }

  get condSize(): number {
    return this.net.dims.condDim;
  }

  reset(options: { seed?: number } = {}): void {
    this.history.reset();
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
  }

  act(observation: ObservationFrame | readonly ObservationFrame[], options?: StudentActOptions): ActionChunk {
    const started = this.clock();
    this.history.push(observation);
    this.history.condition(this.normalizer, this.cond, this.condViews);
    const given = options?.latent ?? options?.noise;
    if (given !== undefined) {
      if (given.length !== this.latentDim) {
        throw new InputError(options?.latent !== undefined ? 'latent' : 'noise', given, `${this.latentDim} values (the student's latent size)`);
      }
      for (let i = 0; i < this.latentDim; i++) this.latentDraw[i] = given[i];
    } else if (this.gate) {
      this.gate.writeAnchor(this.gate.choose(this.cond, this.rng), this.latentDraw);
      if (this.latentEps.length > 0) this.rng.fillNormal(this.latentEps);
    } else {
      this.rng.fillNormal(this.latentDraw);
    }
    if (this.realtime) {
      this.latentBuf.set(this.latentTrunk);
      const chunk = this.chunk;
      this.normalizer.unnormalize(this.config.action.key, this.realtimeRefine ? this.refineRealtime(this.realtime.forward(), this.realtimeRefine) : this.realtime.forward(), chunk.actions);
      chunk.latencyMs = this.clock() - started;
      return chunk;
    }
    this.latentBuf.set(this.latentDraw);
    const actions = this.generateNormalized(this.cond, this.latentBuf, 1);
    this.normalizer.unnormalize(this.config.action.key, actions, actions);
    return { ...this.chunk, actions, latencyMs: this.clock() - started };
  }

  /** x_tau, the linear path's point at tau from eps to the student's chunk, into the refining engine with the condition; its output. */
  private refineRealtime(student: Float32Array, engine: RealtimeMlp): Float32Array {
    linearPoint(this.latentEps, student, this.net.refine!.time, engine.latent);
    engine.cond.set(this.cond);
    return engine.forward();
  }

  /**
   * Chunks in normalised space through tfjs: `cond` [batch, condSize],
   * `latent` [batch, latentDim] -> [batch, chunkSize].
   */
  generateNormalized(cond: Float32Array, latent: Float32Array, batch: number): Float32Array {
    if (cond.length !== batch * this.condSize) throw new RangeError(`cond has ${cond.length} values, expected ${batch} x ${this.condSize}`);
    if (latent.length !== batch * this.latentDim) throw new RangeError(`latent has ${latent.length} values, expected ${batch} x ${this.latentDim}`);
    const out = tf.tidy(() => this.net.apply(this.params, tf.tensor2d(latent, [batch, this.latentDim]), tf.tensor2d(cond, [batch, this.condSize]), this.refineParams ?? undefined));
    const values = (out.dataSync() as Float32Array).slice();
    out.dispose();
    return values;
  }

  dispose(): void {
    this.params.dispose();
    this.refineParams?.dispose();
  }
}
