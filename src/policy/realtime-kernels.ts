/**
 * The matrix-vector kernels of the real-time MLP (realtime-mlp.ts), as
 * WebAssembly modules assembled here byte by byte: no toolchain at build
 * time, nothing fetched at run time. Both work on blocks of 16 outputs
 * whose weights are stored one block after another, in the order the
 * kernel reads them, so each block streams its weights once.
 *
 * - `gemv` (float32): y = b + W^T x, f32x4 multiply and add.
 * - `gemv16` (int16): y = b + (s_x s_w) * (Wq^T xq), with x quantised
 *   per vector (`quantize16`) and W per output column (when packed), both
 *   to int16, multiplied pairwise by i32x4.dot_i16x8_s: 8 products per
 *   instruction and half the weight bytes of float32. int32 sums of 16
 *   products at most (INT16_GROUP) cannot overflow at INT16_LEVELS.
 */

// ---- encoding ----

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
const F32 = 0x7d;
const V128 = 0x7b;
const get = (i: number): number[] => [0x20, ...uleb(i)];
const set = (i: number): number[] => [0x21, ...uleb(i)];
const tee = (i: number): number[] => [0x22, ...uleb(i)];
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
const memarg = (alignLog2: number, offset: number): number[] => [...uleb(alignLog2), ...uleb(offset)];
const f32 = (v: number): number[] => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
const OP = {
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  select: 0x1b,
  f32Load: 0x2a,
  f32Store: 0x38,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32LtU: 0x49,
  i32Shl: 0x74,
  f32Gt: 0x5e,
  f32Div: 0x95,
  f32Max: 0x97,
  void: 0x40,
};
const SIMD = {
  load: 0x00,
  load32Splat: 0x09,
  store: 0x0b,
  i32x4Splat: 0x11,
  i32x4Shl: 171,
  f32x4Splat: 0x13,
  v128Const: 0x0c,
  f32x4ExtractLane: 0x1f,
  f32x4Gt: 0x44,
  v128Bitselect: 0x52,
  f32x4Nearest: 0x6a,
  i16x8NarrowI32x4S: 0x85,
  i32x4Add: 174,
  i32x4DotI16x8S: 186,
  f32x4Abs: 224,
  f32x4Add: 228,
  f32x4Sub: 229,
  f32x4Mul: 230,
  f32x4Div: 231,
  f32x4Min: 232,
  f32x4Max: 233,
  i32x4TruncSatF32x4S: 248,
  f32x4ConvertI32x4S: 250,
};

/** A module importing `env.memory` and exporting one function `fn` of the given parameter and result types. */
function moduleOf(fn: string, params: number[], locals: number[][], code: number[], results: number[] = []): Uint8Array<ArrayBuffer> {
  const body = [...vec(locals), ...code, OP.end];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name(fn), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

// ---- the kernels ----

/** Outputs per kernel block: 4 four-lane accumulators. */
export const BLOCK = 16;

/**
 * gemv(x, w, b, y, nin, nblk): for each block of 16 outputs,
 *   y[0..16) = b[0..16) + sum_i x[i] * w[i][0..16)
 * with w the block's [nin, 16] float32 slice; all arguments but the counts
 * are byte addresses in the imported memory. nin, nblk >= 1.
 */
function gemvModule(): Uint8Array<ArrayBuffer> {
  // params 0 x, 1 w, 2 b, 3 y, 4 nin, 5 nblk; locals 6 xp, 7 xend, 8..11 acc, 12 splat
  const ACC = 8;
  const S = 12;
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
  return moduleOf('gemv', [I32, I32, I32, I32, I32, I32], [[2, I32], [5, V128]], c);
}

/** Inputs per int32 partial sum of the int16 kernel (8 pairs); then the sum moves to float32. */
export const INT16_GROUP = 16;

/**
 * The int16 level Q of both factors of a product such that a group's int32
 * sum cannot overflow: every |x_i|, |w_ij| <= Q, so |sum| <= 16 Q^2 <=
 * 2^31 - 1, Q = 11585: each factor keeps about 15 bits (a rounding error of
 * at most 1/23170 of its vector's or column's largest value).
 */
export const INT16_LEVELS = Math.floor(Math.sqrt(0x7fffffff / INT16_GROUP));

/**
 * gemv16(x, w, s, b, y, ngroups, nblk, sx): for each block of 16 outputs,
 *   y[j] = b[j] + sx * s[j] * sum_g float(sum_{i in group g} x[i] w[i][j])
 * with x int16 (16 ngroups values), s and b float32 per output, and the
 * float32 sx read from its address, where quantize16 leaves it (a float
 * returned to JavaScript would be boxed on the heap at every call). Each
 * group's 16 products are summed in int32 (i32x4.dot_i16x8_s multiplies
 * the pair (x[2p], x[2p+1]) splatted against 4 outputs' (w[2p][j],
 * w[2p+1][j])), then added to a float32 sum, so int32 bounds one group
 * only. The block's weights are stored pair by pair, 16 outputs each.
 * Byte addresses as in gemv. ngroups, nblk >= 1.
 */
function gemv16Module(): Uint8Array<ArrayBuffer> {
  // params 0 x, 1 w, 2 s, 3 b, 4 y, 5 ngroups, 6 nblk, 7 sx (i32);
  // locals 8 xp, 9 xend (i32); 10..13 float sums, 14..17 int sums, 18 pair, 19 sx4 (v128); 20 group end (i32)
  const SUM = 10;
  const ISUM = 14;
  const PAIR = 18;
  const SX = 19;
  const GEND = 20;
  const zero = [...i32(0), ...simd(SIMD.i32x4Splat)];
  const c: number[] = [];
  c.push(...get(0), ...get(5), ...i32(5), OP.i32Shl, OP.i32Add, ...set(9)); // xend = x + 32 ngroups
  c.push(...get(7), ...simd(SIMD.load32Splat, ...memarg(2, 0)), ...set(SX));
  c.push(OP.loop, OP.void); // blocks
  for (let a = 0; a < 4; a++) c.push(...zero, ...set(SUM + a));
  c.push(...get(0), ...set(8));
  c.push(OP.loop, OP.void); // groups of 8 pairs
  for (let a = 0; a < 4; a++) c.push(...zero, ...set(ISUM + a));
  c.push(...get(8), ...i32(2 * INT16_GROUP), OP.i32Add, ...set(GEND));
  c.push(OP.loop, OP.void); // pairs of the group
  c.push(...get(8), ...simd(SIMD.load32Splat, ...memarg(2, 0)), ...set(PAIR));
  for (let a = 0; a < 4; a++) {
    c.push(...get(ISUM + a), ...get(PAIR), ...get(1), ...simd(SIMD.load, ...memarg(4, 16 * a)), ...simd(SIMD.i32x4DotI16x8S), ...simd(SIMD.i32x4Add), ...set(ISUM + a));
  }
  c.push(...get(1), ...i32(64), OP.i32Add, ...set(1));
  c.push(...get(8), ...i32(4), OP.i32Add, ...tee(8), ...get(GEND), OP.i32LtU, OP.brIf, 0, OP.end);
  for (let a = 0; a < 4; a++) c.push(...get(SUM + a), ...get(ISUM + a), ...simd(SIMD.f32x4ConvertI32x4S), ...simd(SIMD.f32x4Add), ...set(SUM + a));
  c.push(...get(8), ...get(9), OP.i32LtU, OP.brIf, 0, OP.end);
  // y = b + sum * (s * sx)
  for (let a = 0; a < 4; a++) {
    c.push(...get(4), ...get(3), ...simd(SIMD.load, ...memarg(4, 16 * a)));
    c.push(...get(SUM + a));
    c.push(...get(2), ...simd(SIMD.load, ...memarg(4, 16 * a)), ...get(SX), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Add));
    c.push(...simd(SIMD.store, ...memarg(4, 16 * a)));
  }
  for (const p of [2, 3, 4]) c.push(...get(p), ...i32(64), OP.i32Add, ...set(p));
  c.push(...get(6), ...i32(1), OP.i32Sub, ...tee(6), OP.brIf, 0, OP.end);
  return moduleOf('gemv16', [I32, I32, I32, I32, I32, I32, I32, I32], [[2, I32], [10, V128], [1, I32]], c);
}

/**
 * quantize16(src, dst, n8, levels, scale): the float32 vector src (8 n8
 * values) as int16 dst = round(src * levels / max|src|), and the float32
 * max|src| / levels stored at `scale`, so that src ~ scale * dst. A zero
 * vector gives zeros and scale 0; a NaN anywhere gives scale NaN, and so
 * NaN outputs.
 */
function quantize16Module(): Uint8Array<ArrayBuffer> {
  // params 0 src, 1 dst, 2 n8 (i32), 3 levels (f32), 4 scale (i32); locals 5 p, 6 end (i32), 7 max (f32), 8 max4, 9 inv4 (v128)
  const [P, END, MAX, MAX4, INV4] = [5, 6, 7, 8, 9];
  const c: number[] = [];
  c.push(...get(0), ...get(2), ...i32(5), OP.i32Shl, OP.i32Add, ...set(END)); // end = src + 32 n8
  c.push(...i32(0), ...simd(SIMD.i32x4Splat), ...set(MAX4));
  c.push(...get(0), ...set(P));
  c.push(OP.loop, OP.void);
  for (let h = 0; h < 2; h++) c.push(...get(MAX4), ...get(P), ...simd(SIMD.load, ...memarg(4, 16 * h)), ...simd(SIMD.f32x4Abs), ...simd(SIMD.f32x4Max), ...set(MAX4));
  c.push(...get(P), ...i32(32), OP.i32Add, ...tee(P), ...get(END), OP.i32LtU, OP.brIf, 0, OP.end);
  // The max over the lanes (f32.max propagates NaN, as f32x4.max does).
  c.push(...get(MAX4), ...simd(SIMD.f32x4ExtractLane, 0), ...get(MAX4), ...simd(SIMD.f32x4ExtractLane, 1), OP.f32Max);
  c.push(...get(MAX4), ...simd(SIMD.f32x4ExtractLane, 2), ...get(MAX4), ...simd(SIMD.f32x4ExtractLane, 3), OP.f32Max, OP.f32Max, ...set(MAX));
  // inv = max > 0 ? levels / max : 0
  c.push(...get(3), ...get(MAX), OP.f32Div, ...f32(0), ...get(MAX), ...f32(0), OP.f32Gt, OP.select, ...simd(SIMD.f32x4Splat), ...set(INV4));
  c.push(...get(0), ...set(P));
  c.push(OP.loop, OP.void);
  c.push(...get(1));
  for (let h = 0; h < 2; h++) c.push(...get(P), ...simd(SIMD.load, ...memarg(4, 16 * h)), ...get(INV4), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Nearest), ...simd(SIMD.i32x4TruncSatF32x4S));
  c.push(...simd(SIMD.i16x8NarrowI32x4S), ...simd(SIMD.store, ...memarg(4, 0)));
  c.push(...get(1), ...i32(16), OP.i32Add, ...set(1));
  c.push(...get(P), ...i32(32), OP.i32Add, ...tee(P), ...get(END), OP.i32LtU, OP.brIf, 0, OP.end);
  c.push(...get(4), ...get(MAX), ...get(3), OP.f32Div, OP.f32Store, ...memarg(2, 0));
  return moduleOf('quantize16', [I32, I32, I32, F32, I32], [[2, I32], [1, F32], [2, V128]], c);
}

// ---- the activations, 4 lanes at a time ----

/** A float32 constant in all four lanes. */
const f32x4 = (v: number): number[] => simd(SIMD.v128Const, ...new Uint8Array(new Float32Array([v, v, v, v]).buffer));

/**
 * e^v of the four lanes of local V into local E (scratch locals K, R), for
 * v in [-87, 88] (the caller clamps): v = k ln 2 + r with k = round(v /
 * ln 2), |r| <= ln 2 / 2, e^r by its Taylor polynomial to r^6 (truncation
 * below 1.2e-7 relative), 2^k built in the exponent bits. ln 2 is split in
 * two (Cody and Waite) so that k ln 2 is subtracted without rounding.
 */
function exp4(V: number, E: number, K: number, R: number): number[] {
  const c: number[] = [];
  c.push(...get(V), ...f32x4(Math.LOG2E), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Nearest), ...set(K));
  c.push(...get(V), ...get(K), ...f32x4(0.693359375), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Sub));
  c.push(...get(K), ...f32x4(-2.12194440e-4), ...simd(SIMD.f32x4Mul), ...simd(SIMD.f32x4Sub), ...set(R));
  c.push(...f32x4(1 / 720));
  for (const coef of [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) c.push(...get(R), ...simd(SIMD.f32x4Mul), ...f32x4(coef), ...simd(SIMD.f32x4Add));
  c.push(...get(K), ...simd(SIMD.i32x4TruncSatF32x4S), ...i32(127), ...simd(SIMD.i32x4Splat), ...simd(SIMD.i32x4Add), ...i32(23), ...simd(SIMD.i32x4Shl));
  c.push(...simd(SIMD.f32x4Mul), ...set(E));
  return c;
}

/**
 * An in-place activation over n4 vectors of 4 floats at byte address p:
 * `body` maps local X (the loaded vector) to the value left on the stack,
 * with locals E, K, R, V free for exp4.
 */
function activationModule(fn: string, body: (l: { X: number; E: number; K: number; R: number; V: number }) => number[]): Uint8Array<ArrayBuffer> {
  // params 0 p, 1 n4; locals 2 end (i32), 3 X, 4 E, 5 K, 6 R, 7 V (v128)
  const l = { X: 3, E: 4, K: 5, R: 6, V: 7 };
  const c: number[] = [];
  c.push(...get(0), ...get(1), ...i32(4), OP.i32Shl, OP.i32Add, ...set(2));
  c.push(OP.loop, OP.void);
  c.push(...get(0), ...get(0), ...simd(SIMD.load, ...memarg(4, 0)), ...set(l.X), ...body(l), ...simd(SIMD.store, ...memarg(4, 0)));
  c.push(...get(0), ...i32(16), OP.i32Add, ...tee(0), ...get(2), OP.i32LtU, OP.brIf, 0, OP.end);
  return moduleOf(fn, [I32, I32], [[1, I32], [5, V128]], c);
}

/**
 * mish(x) = x n / (n + 2), n = e (e + 2), e = e^x (nets/activations.ts),
 * and x itself above 20, where that is exact in float32. NaN stays NaN.
 */
function mishModule(): Uint8Array<ArrayBuffer> {
  return activationModule('mish', ({ X, E, K, R, V }) => [
    ...get(X), ...f32x4(20), ...simd(SIMD.f32x4Min), ...f32x4(-87), ...simd(SIMD.f32x4Max), ...set(V),
    ...exp4(V, E, K, R),
    ...get(E), ...get(E), ...f32x4(2), ...simd(SIMD.f32x4Add), ...simd(SIMD.f32x4Mul), ...set(R), // n
    ...get(X), // chosen where x > 20
    // The clamped x: below -87, x n / (n + 2) is 0 in float32 (an unclamped -1e30 would give -1e-8).
    ...get(V), ...get(R), ...simd(SIMD.f32x4Mul), ...get(R), ...f32x4(2), ...simd(SIMD.f32x4Add), ...simd(SIMD.f32x4Div),
    ...get(X), ...f32x4(20), ...simd(SIMD.f32x4Gt), ...simd(SIMD.v128Bitselect),
  ]);
}

/** silu(x) = x / (1 + e^-x). NaN stays NaN. */
function siluModule(): Uint8Array<ArrayBuffer> {
  return activationModule('silu', ({ X, E, K, R, V }) => [
    ...f32x4(0), ...get(X), ...simd(SIMD.f32x4Sub), ...f32x4(88), ...simd(SIMD.f32x4Min), ...f32x4(-87), ...simd(SIMD.f32x4Max), ...set(V),
    ...exp4(V, E, K, R),
    ...get(X), ...get(E), ...f32x4(1), ...simd(SIMD.f32x4Add), ...simd(SIMD.f32x4Div),
  ]);
}

export interface CompiledKernels {
  gemv: WebAssembly.Module;
  gemv16: WebAssembly.Module;
  quantize16: WebAssembly.Module;
  mish: WebAssembly.Module;
  silu: WebAssembly.Module;
}

let compiled: CompiledKernels | null | undefined;

/** Both kernels compiled, or null where WebAssembly SIMD is unavailable. */
export function realtimeKernels(): CompiledKernels | null {
  if (compiled !== undefined) return compiled;
  try {
    const bytes = { gemv: gemvModule(), gemv16: gemv16Module(), quantize16: quantize16Module(), mish: mishModule(), silu: siluModule() };
    compiled =
      typeof WebAssembly !== 'undefined' && Object.values(bytes).every((b) => WebAssembly.validate(b))
        ? (Object.fromEntries(Object.entries(bytes).map(([k, b]) => [k, new WebAssembly.Module(b)])) as unknown as CompiledKernels)
        : null;
  } catch {
    compiled = null;
  }
  return compiled;
}
