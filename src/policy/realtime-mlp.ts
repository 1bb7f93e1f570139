import type { Activation } from '../nets/activations.js';
import type { WeightMap } from '../nets/params.js';
import { BLOCK, INT16_GROUP, INT16_LEVELS, realtimeKernels } from './realtime-kernels.js';

/**
 * The real-time forward pass of an MLP student at batch 1, without tfjs:
 *
 *   x = P z  (or z itself when the latent is the chunk),
 *   G(z, c) = x + h MLP([x, emb(t), c])
 *
 * with the teacher-shaped MLP of nets/mlp.ts (hidden layers with the
 * activation, a linear output) and its time input fixed: t = 0 (noise;
 * t = 1 is data) and h = 1 for the student, one Euler step of a teacher
 * from t for a refined student's correction (student-config.ts). The time
 * embedding emb(t) is a constant, so it is computed once and folded into
 * the first layer's bias; the first layer then reads [x, c] only.
 *
 * Everything lives in one pre-allocated block of memory: weights repacked
 * for the kernel, the input slots `latent` and `cond`, the hidden
 * activations and `output`. forward() allocates nothing. The matrix-vector
 * products and the activations run in hand-assembled WebAssembly SIMD
 * (realtime-kernels.ts): float32 by default, which agrees with the tfjs
 * forward pass to float32 rounding (tested to 1e-5), or int16 products on
 * request, which trade that for speed (tested to 1e-3); or in plain
 * JavaScript (float32 blocks accumulated in float64) where WebAssembly
 * SIMD is missing. The same engine runs an anchored student's gate
 * (RealtimeGateSpec: ReLU layers from the condition to logits).
 */
export interface RealtimeMlpSpec {
  net: { hidden: number; layers: number; timeEmbedDim: number; activation: Activation };
  /** Chunk size D = horizon x action dim (the MLP's input and output width). */
  chunk: number;
  /** Conditioning size C = To x observation features. */
  condDim: number;
  /** Latent size; a learned projection `latent.proj.weight` [latentDim, D] is used when it is not D. */
  latentDim: number;
  /** emb(t): the net's time embedding at its fixed time t, computed by the net itself (StudentNet.timeEmbeddingAtNoise: t = 0). */
  timeEmbedding: Float32Array;
  /** h in x + h v(x, t, c) (default 1: the student's full step from noise). */
  step?: number;
}

/**
 * An anchored student's gate on the same engine (nets/gate-net.ts): logits
 * g(c) = out(relu(... relu(layer_0(c)))), no residual, no time input; its
 * weights named `<i>.weight`, `<i>.bias`, `out.weight`, `out.bias`.
 */
export interface RealtimeGateSpec {
  gate: { count: number; hidden: number; layers: number };
  condDim: number;
}

/** The layers an engine runs, and where its input and output sit. */
interface StackPlan {
  /** The dense layers in order (the activation between them, none after the last). */
  stack: Dense[];
  /** z -> x = P z before the stack, for a latent that is not the chunk. */
  proj: Dense | null;
  /** x's width (the chunk; 0 for a gate), the condition's, the latent's, the output's. */
  D: number;
  C: number;
  latentDim: number;
  out: number;
  hidden: number;
  activation: Activation;
  /** h in out = x + h y (a velocity net's Euler step), or null: out = y. */
  step: number | null;
}

/**
 * 'wasm-simd': float32 (the default; equal to tfjs to float32 rounding).
 * 'wasm-int16': weights and activations quantised to int16 (per output
 * column and per vector), about 1.5x as fast; equal to tfjs to about 1e-3.
 * 'js': float32 in plain JavaScript, where WebAssembly SIMD is missing.
 */
export const REALTIME_KERNELS = ['wasm-simd', 'wasm-int16', 'js'] as const;
export type RealtimeKernel = (typeof REALTIME_KERNELS)[number];

const align = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

interface Layer {
  /** Float offsets: the layer's float input, its output. */
  x: number;
  y: number;
  nin: number;
  nblk: number;
  /** Float offsets of the packed weights and the bias. */
  w: number;
  b: number;
  /** int16 only: float offsets of the quantised input, its scale and the per-output scales; the input's groups of INT16_GROUP. */
  xq: number;
  sx: number;
  s: number;
  groups: number;
}

/** One dense layer as the engine reads it: input rows (each a weight vector over the outputs) and a bias. */
interface Dense {
  nin: number;
  nout: number;
  row: (i: number) => Float32Array;
  bias: Float32Array;
}

/** mish(x) = x tanh(softplus(x)) = x n (n + 2) / (n (n + 2) + 2), n = e^x; = x in float32 beyond 20 (the same function as nets/activations.ts, on numbers). */
function mishInPlace(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x > 20) continue;
    const n = Math.exp(x);
    const q = n * (n + 2);
    v[i] = (x * q) / (q + 2);
  }
}

function siluInPlace(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) v[i] = v[i] / (1 + Math.exp(-v[i]));
}

function reluInPlace(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) if (!(v[i] > 0)) v[i] = 0;
}

const ACTIVATIONS: Record<Activation, (v: Float32Array) => void> = { mish: mishInPlace, silu: siluInPlace, relu: reluInPlace };

type DenseOf = (key: string, nin: number, nout: number) => Dense;

/** A velocity MLP at its fixed time: emb(t) folded into the first layer's bias, which then reads [x, c]. */
function velocityPlan(spec: RealtimeMlpSpec, dense: DenseOf, w: (key: string, shape: number[]) => Float32Array): StackPlan {
  const { net, chunk: D, condDim: C, latentDim } = spec;
  const T = net.timeEmbedDim;
  const H = net.hidden;
  const emb = spec.timeEmbedding;
  if (emb.length !== T) throw new Error(`realtime MLP: time embedding of ${emb.length} values, expected ${T}`);
  const d = dense('mlp.0', D + T + C, H);
  const bias = new Float32Array(H);
  for (let j = 0; j < H; j++) {
    let s = d.bias[j];
    for (let e = 0; e < T; e++) s += emb[e] * d.row(D + e)[j];
    bias[j] = s;
  }
  const stack: Dense[] = [{ nin: D + C, nout: H, row: (i: number) => d.row(i < D ? i : i + T), bias }];
  for (let l = 1; l < net.layers; l++) stack.push(dense(`mlp.${l}`, H, H));
  stack.push(dense('mlp.out', H, D));
  const proj: Dense | null =
    latentDim === D
      ? null
      : (() => {
          const wt = w('latent.proj.weight', [latentDim, D]);
          return { nin: latentDim, nout: D, row: (i: number) => wt.subarray(i * D, (i + 1) * D), bias: new Float32Array(D) };
        })();
  return { stack, proj, D, C, latentDim: proj ? latentDim : D, out: D, hidden: H, activation: net.activation, step: spec.step ?? 1 };
}

/** A gate: ReLU layers from the condition, logits out. */
function gatePlan(spec: RealtimeGateSpec, dense: DenseOf): StackPlan {
  const { count, hidden: H, layers } = spec.gate;
  const stack: Dense[] = [];
  for (let l = 0; l < layers; l++) stack.push(dense(`${l}`, l === 0 ? spec.condDim : H, H));
  stack.push(dense('out', H, count));
  return { stack, proj: null, D: 0, C: spec.condDim, latentDim: 0, out: count, hidden: H, activation: 'relu', step: null };
}

export class RealtimeMlp {
  /** Write the latent z here before forward() (a view of the engine's memory). */
  readonly latent: Float32Array;
  /** Write the normalised condition here before forward(). */
  readonly cond: Float32Array;
  /** G(z, c) after forward(); the same array every call. */
  readonly output: Float32Array;
  readonly kernel: RealtimeKernel;
  /** Parameters held (after folding the time embedding). */
  readonly parameters: number;

  private readonly memory: Float32Array;
  /** The same memory as int16 (the quantised weights and inputs of the int16 kernel). */
  private readonly memory16: Int16Array;
  private readonly gemvWasm: ((x: number, w: number, b: number, y: number, nin: number, nblk: number) => void) | null;
  private readonly gemv16Wasm: ((x: number, w: number, s: number, b: number, y: number, ngroups: number, nblk: number, sx: number) => void) | null;
  private readonly quantize16Wasm: ((src: number, dst: number, n8: number, levels: number, scale: number) => void) | null;
  private readonly proj: Layer | null;
  private readonly layers: Layer[];
  private readonly hidden: Float32Array[];
  private readonly activate: (v: Float32Array) => void;
  /** mish and silu in WebAssembly SIMD (in place, 4 lanes at a time), where the kernels run there. */
  private readonly activateWasm: ((p: number, n4: number) => void) | null;
  /** Float offsets of the hidden activations, and their 16-aligned length in vectors of 4. */
  private readonly hiddenAt: number[];
  private readonly hiddenN4: number;
  /** x = P z (or z), the first D values of the first layer's input. */
  private readonly x: Float32Array;
  private readonly projOut: Float32Array | null;
  private readonly y: Float32Array;
  /** h of out = x + h y, or null for a gate (out is y). */
  private readonly step: number | null;
  private allocated = 0;

  /** Whether the WebAssembly SIMD kernels can run here. */
  static simdAvailable(): boolean {
    return realtimeKernels() !== null;
  }

  constructor(
    readonly spec: RealtimeMlpSpec | RealtimeGateSpec,
    weights: WeightMap,
    options: { kernel?: RealtimeKernel } = {},
  ) {
    const w = (key: string, shape: number[]): Float32Array => {
      const t = weights.get(key);
      if (!t || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`realtime MLP: weight '${key}' missing or not of shape [${shape}]`);
      }
      return t.data;
    };

    const dense = (key: string, nin: number, nout: number): Dense => {
      const wt = w(`${key}.weight`, [nin, nout]);
      return { nin, nout, row: (i) => wt.subarray(i * nout, (i + 1) * nout), bias: w(`${key}.bias`, [nout]) };
    };
    const plan = 'gate' in spec ? gatePlan(spec, dense) : velocityPlan(spec, dense, w);
    const { stack, proj: projDense, D, C, latentDim, hidden: H } = plan;

    const wanted = options.kernel ?? (realtimeKernels() ? 'wasm-simd' : 'js');
    const modules = wanted === 'js' ? null : realtimeKernels();
    if (wanted !== 'js' && !modules) throw new Error(`realtime MLP: WebAssembly SIMD is not available here (kernel '${wanted}')`);
    const int16 = wanted === 'wasm-int16';

    // Memory plan (floats): packed weights, then 16-aligned buffers (so a
    // layer's float input is zero up to a whole group). int16 data takes
    // half a float per value; its inputs are padded to whole groups.
    let top = 0;
    const reserve = (n: number): number => {
      const at = top;
      top += align(n);
      return at;
    };
    const groups = (d: Dense): number => Math.ceil(d.nin / INT16_GROUP);
    const packed = new Map<Dense, { w: number; b: number; s: number; xq: number; sx: number }>();
    for (const d of [...(projDense ? [projDense] : []), ...stack]) {
      const nb = Math.ceil(d.nout / BLOCK);
      packed.set(
        d,
        int16
          ? { w: reserve((nb * BLOCK * groups(d) * INT16_GROUP) / 2), b: reserve(nb * BLOCK), s: reserve(nb * BLOCK), xq: reserve((groups(d) * INT16_GROUP) / 2), sx: reserve(1) }
          : { w: reserve(nb * BLOCK * d.nin), b: reserve(nb * BLOCK), s: -1, xq: -1, sx: -1 },
      );
    }
    const zAt = projDense ? reserve(latentDim) : -1;
    const projOutAt = projDense ? reserve(D) : -1;
    const inAt = reserve(D + C);
    const hiddenAt = Array.from({ length: stack.length - 1 }, () => reserve(H));
    const yAt = reserve(plan.out);
    const outAt = plan.step !== null ? reserve(D) : yAt;

    let memory: Float32Array;
    if (modules) {
      const mem = new WebAssembly.Memory({ initial: Math.ceil((top * 4) / 65536) + 1 });
      const env = { env: { memory: mem } };
      this.gemvWasm = int16 ? null : (new WebAssembly.Instance(modules.gemv, env).exports.gemv as typeof this.gemvWasm);
      this.gemv16Wasm = int16 ? (new WebAssembly.Instance(modules.gemv16, env).exports.gemv16 as typeof this.gemv16Wasm) : null;
      this.quantize16Wasm = int16 ? (new WebAssembly.Instance(modules.quantize16, env).exports.quantize16 as typeof this.quantize16Wasm) : null;
      const act = plan.activation;
      this.activateWasm = act === 'relu' ? null : (new WebAssembly.Instance(modules[act], env).exports[act] as typeof this.activateWasm);
      memory = new Float32Array(mem.buffer);
    } else {
      memory = new Float32Array(top);
      this.gemvWasm = null;
      this.gemv16Wasm = null;
      this.quantize16Wasm = null;
      this.activateWasm = null;
    }
    this.kernel = wanted;
    this.memory = memory;
    this.memory16 = new Int16Array(memory.buffer);
    this.allocated += 2;

    for (const [d, at] of packed) {
      const nb = Math.ceil(d.nout / BLOCK);
      memory.set(d.bias, at.b);
      if (!int16) {
        for (let i = 0; i < d.nin; i++) {
          const row = d.row(i);
          for (let jb = 0; jb < nb; jb++) {
            const o = at.w + (jb * d.nin + i) * BLOCK;
            for (let q = 0; q < BLOCK && jb * BLOCK + q < d.nout; q++) memory[o + q] = row[jb * BLOCK + q];
          }
        }
        continue;
      }
      // Per output column j: w ~ s_j q with |q| <= Q, s_j = max_i |w_ij| / Q.
      const np = (groups(d) * INT16_GROUP) / 2;
      const Q = INT16_LEVELS;
      const max = new Float64Array(d.nout);
      for (let i = 0; i < d.nin; i++) {
        const row = d.row(i);
        for (let j = 0; j < d.nout; j++) max[j] = Math.max(max[j], Math.abs(row[j]));
      }
      const inv = max.map((m) => (m > 0 ? Q / m : 0));
      for (let j = 0; j < d.nout; j++) memory[at.s + j] = max[j] / Q;
      const w16 = 2 * at.w;
      for (let i = 0; i < d.nin; i++) {
        const row = d.row(i);
        const p = i >> 1;
        const h = i & 1;
        for (let j = 0; j < d.nout; j++) {
          const jb = Math.floor(j / BLOCK);
          this.memory16[w16 + (jb * np + p) * 2 * BLOCK + (j % BLOCK) * 2 + h] = Math.max(-Q, Math.min(Q, Math.round(row[j] * inv[j])));
        }
      }
    }
    const layerOf = (d: Dense, x: number, y: number): Layer => {
      const at = packed.get(d)!;
      return { x, y, nin: d.nin, nblk: Math.ceil(d.nout / BLOCK), w: at.w, b: at.b, xq: at.xq, sx: at.sx, s: at.s, groups: groups(d) };
    };
    this.proj = projDense ? layerOf(projDense, zAt, projOutAt) : null;
    this.layers = stack.map((d, l) => layerOf(d, l === 0 ? inAt : hiddenAt[l - 1], l < stack.length - 1 ? hiddenAt[l] : yAt));

    const view = (at: number, n: number): Float32Array => {
      this.allocated++;
      return memory.subarray(at, at + n);
    };
    this.x = view(inAt, D);
    this.cond = view(inAt + D, C);
    this.latent = projDense ? view(zAt, latentDim) : this.x;
    this.projOut = projDense ? view(projOutAt, D) : null;
    this.hidden = hiddenAt.map((at) => view(at, H));
    this.hiddenAt = hiddenAt;
    this.hiddenN4 = align(H) / 4;
    this.y = view(yAt, plan.out);
    this.output = plan.step !== null ? view(outAt, D) : this.y;
    this.activate = ACTIVATIONS[plan.activation];
    this.step = plan.step;
    this.parameters = [...packed.keys()].reduce((n, d) => n + d.nin * d.nout + (d === projDense ? 0 : d.nout), 0);
  }

  /**
   * Typed arrays and memories this engine has created: all at construction,
   * so the count stays fixed however many forward passes run.
   */
  get allocations(): number {
    return this.allocated;
  }

  private gemv(g: Layer): void {
    if (this.gemv16Wasm) {
      this.gemv16(g);
      return;
    }
    if (this.gemvWasm) {
      this.gemvWasm(g.x * 4, g.w * 4, g.b * 4, g.y * 4, g.nin, g.nblk);
      return;
    }
    // Plain JavaScript: 16 accumulators in locals (registers), the same block layout and summation order.
    const m = this.memory;
    const x = g.x;
    const nin = g.nin;
    for (let jb = 0; jb < g.nblk; jb++) {
      const b = g.b + jb * BLOCK;
      let a0 = m[b], a1 = m[b + 1], a2 = m[b + 2], a3 = m[b + 3], a4 = m[b + 4], a5 = m[b + 5], a6 = m[b + 6], a7 = m[b + 7];
      let a8 = m[b + 8], a9 = m[b + 9], a10 = m[b + 10], a11 = m[b + 11], a12 = m[b + 12], a13 = m[b + 13], a14 = m[b + 14], a15 = m[b + 15];
      let w = g.w + jb * nin * BLOCK;
      for (let i = 0; i < nin; i++, w += BLOCK) {
        const xi = m[x + i];
        a0 += xi * m[w]; a1 += xi * m[w + 1]; a2 += xi * m[w + 2]; a3 += xi * m[w + 3];
        a4 += xi * m[w + 4]; a5 += xi * m[w + 5]; a6 += xi * m[w + 6]; a7 += xi * m[w + 7];
        a8 += xi * m[w + 8]; a9 += xi * m[w + 9]; a10 += xi * m[w + 10]; a11 += xi * m[w + 11];
        a12 += xi * m[w + 12]; a13 += xi * m[w + 13]; a14 += xi * m[w + 14]; a15 += xi * m[w + 15];
      }
      const y = g.y + jb * BLOCK;
      m[y] = a0; m[y + 1] = a1; m[y + 2] = a2; m[y + 3] = a3; m[y + 4] = a4; m[y + 5] = a5; m[y + 6] = a6; m[y + 7] = a7;
      m[y + 8] = a8; m[y + 9] = a9; m[y + 10] = a10; m[y + 11] = a11; m[y + 12] = a12; m[y + 13] = a13; m[y + 14] = a14; m[y + 15] = a15;
    }
  }

  /** The layer's input quantised per vector, then the int16 product. */
  private gemv16(g: Layer): void {
    this.quantize16Wasm!(g.x * 4, g.xq * 4, g.groups * (INT16_GROUP / 8), INT16_LEVELS, g.sx * 4);
    this.gemv16Wasm!(g.xq * 4, g.w * 4, g.s * 4, g.b * 4, g.y * 4, g.groups, g.nblk, g.sx * 4);
  }

  /** G(latent, cond) (a gate's logits g(cond)) into `output` (returned). Allocates nothing. */
  forward(): Float32Array {
    if (this.proj) {
      this.gemv(this.proj);
      this.x.set(this.projOut!);
    }
    const n = this.layers.length;
    for (let l = 0; l < n; l++) {
      this.gemv(this.layers[l]);
      if (l === n - 1) break;
      // The whole 16-aligned buffer: its padding is 0 and stays 0 (mish(0) = silu(0) = 0).
      if (this.activateWasm) this.activateWasm(this.hiddenAt[l] * 4, this.hiddenN4);
      else this.activate(this.hidden[l]);
    }
    const h = this.step;
    if (h === null) return this.output;
    const x = this.x;
    const y = this.y;
    const out = this.output;
    for (let j = 0; j < out.length; j++) out[j] = x[j] + h * y[j];
    return out;
  }
}
