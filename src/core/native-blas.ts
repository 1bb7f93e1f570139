import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The optional native fast path: tfjs's wasm backend with its matrix
 * products (BatchMatMul, hence every dense layer, the im2col convolutions
 * and all their gradients) run by the system's OpenBLAS through a small
 * Node-API addon (native/flowpolicy_blas.c), directly on the tensors the
 * backend keeps in WebAssembly memory, without copies. The addon also
 * holds vectorised Mish, AdamW and EMA passes, which nets/activations.ts
 * and train/ use while this backend is selected.
 * WebAssembly SIMD has 128-bit vectors and no fused multiply-add, and the
 * products are most of a training step, so this is where the time is won.
 *
 * The addon is built at install (native/build.mjs) when a C compiler and
 * libopenblas-dev are present; without it `loadNativeBlas` says why and
 * flowpolicy uses plain wasm.
 */

export interface NativeBlas {
  sgemm(transA: boolean, transB: boolean, batch: number, m: number, n: number, k: number, a: Float32Array, strideA: number, b: Float32Array, strideB: number, c: Float32Array): void;
  mish(x: Float32Array, y: Float32Array): void;
  mishGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, b1: number, b2: number, bc1: number, bc2: number, eps: number, lr: number, decay: number, scale: number): void;
  ema(ema: Float32Array, p: Float32Array, out: Float32Array, d: number): void;
  setThreads(n: number): void;
  threads(): number;
  config(): string;
}

const ADDON = join('native', 'build', 'Release', 'flowpolicy_blas.node');
let loaded: { blas: NativeBlas } | { reason: string } | null = null;

/** The package root: the nearest folder above this module with a package.json (src/core or dist/src/core). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
  return dir;
}

/** The addon, or the reason it cannot load (not built, or built for another Node). */
export function loadNativeBlas(): { blas: NativeBlas } | { reason: string } {
  if (loaded) return loaded;
  const path = join(packageRoot(), ADDON);
  if (!existsSync(path)) {
    loaded = { reason: `${ADDON} is not built (needs libopenblas-dev and a C compiler at install; then run node native/build.mjs)` };
    return loaded;
  }
  try {
    const blas = createRequire(import.meta.url)(path) as NativeBlas;
    // One thread per process unless asked: eval and data-parallel workers run one process per core.
    const threads = Number(process.env.FLOWPOLICY_BLAS_THREADS ?? 1);
    blas.setThreads(Number.isInteger(threads) && threads > 0 ? threads : 1);
    loaded = { blas };
  } catch (err) {
    loaded = { reason: `${path} failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

interface WasmTensorData {
  memoryOffset: number;
}
interface WasmBackendLike {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(id: object): WasmTensorData };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

type KernelFunc = tf.KernelConfig['kernelFunc'];
/** Below this many rows an unflagged product stays on wasm: XNNPACK beats a BLAS call on matrix-vector shapes (the preset teacher's batch-1 act(), 10 Euler steps: products 0.9 ms vs 2.5 ms, act() 2.4 ms vs 4.1 ms). */
const SMALL_ROWS = 16;
let wasmMatMul: tf.KernelConfig | null = null;
let routed: NativeBlas | null = null;

/**
 * The addon while the `native` backend is selected (the wasm backend's
 * matrix products routed to it), for other ops to use its kernels too;
 * null otherwise.
 */
export function activeNativeBlas(): NativeBlas | null {
  return routed;
}

function nativeBatchMatMul(blas: NativeBlas, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return fallback(args);
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batch = outer.reduce((x, y) => x * y, 1);
    // Partial broadcasting of batch dimensions (e.g. [2, 3] with [3]) is rare: left to wasm.
    if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return fallback(args);
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (k !== kb) throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    // Matrix-vector shapes (batch-1 inference) run faster in XNNPACK than through a BLAS call; its flagged products do not.
    if (m < SMALL_ROWS && !transposeA && !transposeB) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput([...outer, m, n], 'float32');
    if (batch * m * n === 0) return out;
    // Views made after makeOutput: allocating may grow (and so replace) the wasm memory.
    const heap = backend.wasm.HEAPF32;
    const view = (t: tf.TensorInfo, length: number) => new Float32Array(heap.buffer, backend.dataIdMap.get(t.dataId).memoryOffset, length);
    const sizeA = m * k;
    const sizeB = k * n;
    blas.sgemm(transposeA, transposeB, batch, m, n, k, view(a, batchA * sizeA), batchA === 1 ? 0 : sizeA, view(b, batchB * sizeB), batchB === 1 ? 0 : sizeB, view(out, batch * m * n));
    return out;
  };
}

/**
 * Route the wasm backend's BatchMatMul to the native BLAS (`on`), or back
 * to tfjs's own kernel. Returns the reason when the addon is unavailable.
 */
export function useNativeMatMul(on: boolean): { ok: true; blas: NativeBlas } | { ok: false; reason: string } {
  const native = loadNativeBlas();
  if ('reason' in native) return { ok: false, reason: native.reason };
  const current = tf.getKernel(tf.BatchMatMul, 'wasm');
  if (!current) return { ok: false, reason: "tfjs's wasm backend registered no BatchMatMul kernel" };
  wasmMatMul ??= current;
  const wanted = on ? { ...wasmMatMul, kernelFunc: nativeBatchMatMul(native.blas, wasmMatMul.kernelFunc) } : wasmMatMul;
  tf.unregisterKernel(tf.BatchMatMul, 'wasm');
  tf.registerKernel(wanted);
  routed = on ? native.blas : null;
  return { ok: true, blas: native.blas };
}
