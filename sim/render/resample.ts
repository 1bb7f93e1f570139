/**
 * OpenCV's `cv2.resize(img, (w, h))` (INTER_LINEAR) for 8-bit RGB images,
 * reproduced in integer arithmetic: the original Push-T draws at 512 x 512
 * and resizes with it, so our image observations resize the same way.
 *
 * OpenCV maps destination pixel d to the source coordinate
 *   f = (d + 0.5) * (src / dst) - 0.5   (float32),
 * splits it into s = floor(f) and a fraction clamped at the borders, and
 * weights the two neighbours by round((1 - frac) * 2048) and round(frac * 2048).
 * The horizontal pass keeps the sums as integers (value * 2048); the vertical
 * pass combines two rows as OpenCV's SSE2/NEON path does:
 *   ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2,
 * which can differ from the scalar path by 1 on some pixels. A flat region
 * keeps its exact value. Browser-safe: the render page runs it.
 */

interface Taps {
  index: Int32Array;
  w0: Int32Array;
  w1: Int32Array;
}

const COEF_SCALE = 2048;

/** Source index and the two weights for each destination pixel along one axis. */
function taps(src: number, dst: number): Taps {
  const scale = src / dst;
  const index = new Int32Array(dst);
  const w0 = new Int32Array(dst);
  const w1 = new Int32Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= src - 1) {
      s = src - 1;
      f = 0;
    }
    index[d] = s;
    w0[d] = roundHalfEven(Math.fround(1 - f) * COEF_SCALE);
    w1[d] = roundHalfEven(f * COEF_SCALE);
  }
  return { index, w0, w1 };
}

/** C's rint (OpenCV's saturate_cast rounds half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resize a top-left-first RGB image (3 bytes a pixel) to width x height, as cv2.resize with INTER_LINEAR. */
export function resizeBilinear(src: Uint8Array, srcWidth: number, srcHeight: number, width: number, height: number): Uint8Array {
  if (srcWidth === width && srcHeight === height) return src.slice();
  const tx = taps(srcWidth, width);
  const ty = taps(srcHeight, height);
  const out = new Uint8Array(width * height * 3);
  // Horizontal pass of one source row, memoised (consecutive destination rows share source rows).
  const rows = new Map<number, Int32Array>();
  const hrow = (sy: number): Int32Array => {
    let row = rows.get(sy);
    if (row) return row;
    row = new Int32Array(width * 3);
    const base = sy * srcWidth * 3;
    for (let x = 0; x < width; x++) {
      const s = tx.index[x];
      const s1 = Math.min(s + 1, srcWidth - 1);
      for (let c = 0; c < 3; c++) row[x * 3 + c] = src[base + s * 3 + c] * tx.w0[x] + src[base + s1 * 3 + c] * tx.w1[x];
    }
    rows.set(sy, row);
    return row;
  };
  for (let y = 0; y < height; y++) {
    const r0 = hrow(ty.index[y]);
    const r1 = hrow(Math.min(ty.index[y] + 1, srcHeight - 1));
    const b0 = ty.w0[y];
    const b1 = ty.w1[y];
    for (let i = 0; i < width * 3; i++) {
      const v = (((r0[i] >> 4) * b0) >> 16) + (((r1[i] >> 4) * b1) >> 16) + 2;
      out[y * width * 3 + i] = Math.min(255, Math.max(0, v >> 2));
    }
  }
  return out;
}
