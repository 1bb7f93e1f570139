import type { Activation } from '../nets/activations.js';
import type { WeightMap } from '../nets/params.js';

/**
 * The real-time forward pass of an MLP student at batch 1, without tfjs:
 *
 *   x = P z  (or z itself when the latent is the chunk),
 *   G(z, c) = x + MLP([x, emb(0), c])
 *
 * with the teacher-shaped MLP of nets/mlp.ts (hidden layers with the
 * activation, a linear output) and its time input fixed at t = 0 (noise;
 * t = 1 is data). The time embedding emb(0) is a constant, so it is
 * computed once and folded into the first layer's bias; the first layer
 * then reads [x, c] only.
 *
 * Everything lives in one pre-allocated block of memory: weights repacked
 * for the kernel, the input slots `latent` and `cond`, the hidden
 * activations and `output`. forward() allocates nothing. The matrix-vector
 * products run in a small hand-assembled WebAssembly SIMD kernel (f32x4,
 * 16 outputs per block, weights streamed in block order), or in plain
 * JavaScript (the same blocks, accumulated in float64) where WebAssembly
 * SIMD is missing. Both agree with the tfjs
 * forward pass to float32 rounding (tested to 1e-5).
 */
export interface RealtimeMlpSpec {
  net: { hidden: number; layers: number; timeEmbedDim: number; activation: Activation };
  /** Chunk size D = horizon x action dim (the MLP's input and output width). */
  chunk: number;
  /** Conditioning size C = To x observation features. */
  condDim: number;
  /** Latent size; a learned projection `latent.proj.weight` [latentDim, D] is used when it is not D. */
  latentDim: number;
  /** emb(0): the trunk's time embedding at t = 0, computed by the trunk itself (StudentNet.timeEmbeddingAtNoise). */
  timeEmbedding: Float32Array;
}

export type RealtimeKernel = 'wasm-simd' | 'js';

/** Outputs per kernel block: 4 f32x4 accumulators. */
const BLOCK = 16;
const align = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

// ---- the WebAssembly kernel, assembled by hand (no toolchain needed) ----

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number): number[] => [0x20, ...uleb(i)];
const set = (i: number): number[] => [0x21, ...uleb(i)];
const tee = (i: number): number[] => [0x22, ...uleb(i)];
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
const memarg = (alignLog2: number, offset: number): number[] => [...uleb(alignLog2), ...uleb(offset)];
const OP = { loop: 0x03, end: 0x0b, brIf: 0x0d, f32Load: 0x2a, i32Add: 0x6a, i32Sub: 0x6b, i32LtU: 0x49, i32Shl: 0x74, void: 0x40 };
const SIMD = { load: 0x00, store: 0x0b, f32x4Splat: 0x13, f32x4Add: 228, f32x4Mul: 230 };

/**
 * gemv(x, w, b, y, nin, nblk): for each block of 16 outputs,
 *   y[0..16) = b[0..16) + sum_i x[i] * w[i][0..16)
 * with w the block's [nin, 16] slice, blocks stored one after another; all
 * arguments are byte addresses in the imported memory. nin, nblk >= 1.
 */
function gemvModule(): Uint8Array<ArrayBuffer> {
  // params 0 x, 1 w, 2 b, 3 y, 4 nin, 5 nblk; locals 6 xp, 7 xend, 8..11 acc, 12 splat
  const ACC = 8;
  const S = 12;
  const locals = vec([
    [2, I32],
    [5, V128],
  ]);
  const c: number[] = [];
  c.push(...get(0), ...get(4), ...i32(2), OP.i32Shl, OP.i32Add, ...set(7)); // xend = x + 4 nin
  c.push(OP.loop, OP.void); // blocks
  for (let a = 0; a < 4; a++) c.push(...get(2), ...simd(SIMD.load, ...memarg(4, 16 * a)), ...set(ACC + a));
  c.push(...get(0), ...set(6));
  c.push(OP.loop, OP.void); // rows
  c.push(...get(6), OP.f32Load, ...memarg(2, 0), ...simd(SIMD.f32x4Splat), ...set(S));
  for (let a = 0; a < 4; a++) {
    c.push(...get(ACC + a), ...get(S), ...get(1), ...simd(SIMD.load, ...memarg(4, 16 * a)), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Add), ...set(ACC + a));
  }
  c.push(...get(1), ...i32(64), OP.i32Add, ...set(1));
  c.push(...get(6), ...i32(4), OP.i32Add, ...tee(6), ...get(7), OP.i32LtU, OP.brIf, 0, OP.end);
  for (let a = 0; a < 4; a++) c.push(...get(3), ...get(ACC + a), ...simd(SIMD.store, ...memarg(4, 16 * a)));
  c.push(...get(3), ...i32(64), OP.i32Add, ...set(3));
  c.push(...get(2), ...i32(64), OP.i32Add, ...set(2));
  c.push(...get(5), ...i32(1), OP.i32Sub, ...tee(5), OP.brIf, 0, OP.end);
  c.push(OP.end);
  const body = [...locals, ...c];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('gemv'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is unavailable. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    const bytes = gemvModule();
    compiled = typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

// ---- the engine ----

interface Gemv {
  /** Float offsets into the memory. */
  x: number;
  w: number;
  b: number;
  y: number;
  nin: number;
  nblk: number;
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
  private readonly gemvWasm: ((x: number, w: number, b: number, y: number, nin: number, nblk: number) => void) | null;
  private readonly proj: Gemv | null;
  private readonly layers: Gemv[];
  private readonly hidden: Float32Array[];
  private readonly activate: (v: Float32Array) => void;
  /** x = P z (or z), the first D values of the first layer's input. */
  private readonly x: Float32Array;
  private readonly projOut: Float32Array | null;
  private readonly y: Float32Array;
  private allocated = 0;

  /** Whether the WebAssembly SIMD kernel can run here. */
  static simdAvailable(): boolean {
    return kernelModule() !== null;
  }

  constructor(
    readonly spec: RealtimeMlpSpec,
    weights: WeightMap,
    options: { kernel?: RealtimeKernel } = {},
  ) {
    const { net, chunk: D, condDim: C, latentDim } = spec;
    const T = net.timeEmbedDim;
    const H = net.hidden;
    const w = (key: string, shape: number[]): Float32Array => {
      const t = weights.get(key);
      if (!t || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`realtime MLP: weight '${key}' missing or not of shape [${shape}]`);
      }
      return t.data;
    };

    const emb = spec.timeEmbedding;
    if (emb.length !== T) throw new Error(`realtime MLP: time embedding of ${emb.length} values, expected ${T}`);

    // The layers as (input rows, bias) pairs, each row a weight vector over the outputs.
    type Dense = { nin: number; nout: number; row: (i: number) => Float32Array; bias: Float32Array };
    const dense = (key: string, nin: number, nout: number): Dense => {
      const wt = w(`${key}.weight`, [nin, nout]);
      return { nin, nout, row: (i) => wt.subarray(i * nout, (i + 1) * nout), bias: w(`${key}.bias`, [nout]) };
    };
    const first = (() => {
      const d = dense('mlp.0', D + T + C, H);
      const bias = new Float32Array(H);
      for (let j = 0; j < H; j++) {
        let s = d.bias[j];
        for (let e = 0; e < T; e++) s += emb[e] * d.row(D + e)[j];
        bias[j] = s;
      }
      return { nin: D + C, nout: H, row: (i: number) => d.row(i < D ? i : i + T), bias } satisfies Dense;
    })();
    const stack: Dense[] = [first];
    for (let l = 1; l < net.layers; l++) stack.push(dense(`mlp.${l}`, H, H));
    stack.push(dense('mlp.out', H, D));
    const projDense: Dense | null =
      latentDim === D
        ? null
        : (() => {
            const wt = w('latent.proj.weight', [latentDim, D]);
            return { nin: latentDim, nout: D, row: (i: number) => wt.subarray(i * D, (i + 1) * D), bias: new Float32Array(D) };
          })();

    // Memory plan (floats): packed weights, then 16-aligned buffers.
    let top = 0;
    const reserve = (n: number): number => {
      const at = top;
      top += align(n);
      return at;
    };
    const packedAt = new Map<Dense, { w: number; b: number }>();
    for (const d of [...(projDense ? [projDense] : []), ...stack]) {
      const nb = Math.ceil(d.nout / BLOCK);
      packedAt.set(d, { w: reserve(nb * BLOCK * d.nin), b: reserve(nb * BLOCK) });
    }
    const zAt = projDense ? reserve(latentDim) : -1;
    const projOutAt = projDense ? reserve(D) : -1;
    const inAt = reserve(D + C);
    const hiddenAt = Array.from({ length: net.layers }, () => reserve(H));
    const yAt = reserve(D);
    const outAt = reserve(D);

    const module = options.kernel === 'js' ? null : kernelModule();
    if (options.kernel === 'wasm-simd' && !module) throw new Error('realtime MLP: WebAssembly SIMD is not available here');
    let memory: Float32Array;
    if (module) {
      const mem = new WebAssembly.Memory({ initial: Math.ceil((top * 4) / 65536) + 1 });
      const instance = new WebAssembly.Instance(module, { env: { memory: mem } });
      this.gemvWasm = instance.exports.gemv as (x: number, w: number, b: number, y: number, nin: number, nblk: number) => void;
      memory = new Float32Array(mem.buffer);
      this.kernel = 'wasm-simd';
    } else {
      memory = new Float32Array(top);
      this.gemvWasm = null;
      this.kernel = 'js';
    }
    this.memory = memory;
    this.allocated++;

    for (const [d, at] of packedAt) {
      const nb = Math.ceil(d.nout / BLOCK);
      for (let i = 0; i < d.nin; i++) {
        const row = d.row(i);
        for (let jb = 0; jb < nb; jb++) {
          const o = at.w + (jb * d.nin + i) * BLOCK;
          for (let q = 0; q < BLOCK && jb * BLOCK + q < d.nout; q++) memory[o + q] = row[jb * BLOCK + q];
        }
      }
      memory.set(d.bias, at.b);
    }
    const gemvOf = (d: Dense, x: number, y: number): Gemv => ({ x, w: packedAt.get(d)!.w, b: packedAt.get(d)!.b, y, nin: d.nin, nblk: Math.ceil(d.nout / BLOCK) });
    this.proj = projDense ? gemvOf(projDense, zAt, projOutAt) : null;
    this.layers = stack.map((d, l) => gemvOf(d, l === 0 ? inAt : hiddenAt[l - 1], l < stack.length - 1 ? hiddenAt[l] : yAt));

    const view = (at: number, n: number): Float32Array => {
      this.allocated++;
      return memory.subarray(at, at + n);
    };
    this.x = view(inAt, D);
    this.cond = view(inAt + D, C);
    this.latent = projDense ? view(zAt, latentDim) : this.x;
    this.projOut = projDense ? view(projOutAt, D) : null;
    this.hidden = hiddenAt.map((at) => view(at, H));
    this.y = view(yAt, D);
    this.output = view(outAt, D);
    this.activate = ACTIVATIONS[net.activation];
    this.parameters = [...packedAt.keys()].reduce((n, d) => n + d.nin * d.nout + (d === projDense ? 0 : d.nout), 0);
  }

  /**
   * Typed arrays and memories this engine has created: all at construction,
   * so the count stays fixed however many forward passes run.
   */
  get allocations(): number {
    return this.allocated;
  }

  private gemv(g: Gemv): void {
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

  /** G(latent, cond) into `output` (returned). Allocates nothing. */
  forward(): Float32Array {
    if (this.proj) {
      this.gemv(this.proj);
      this.x.set(this.projOut!);
    }
    const n = this.layers.length;
    for (let l = 0; l < n; l++) {
      this.gemv(this.layers[l]);
      if (l < n - 1) this.activate(this.hidden[l]);
    }
    const x = this.x;
    const y = this.y;
    const out = this.output;
    for (let j = 0; j < out.length; j++) out[j] = x[j] + y[j];
    return out;
  }
}
