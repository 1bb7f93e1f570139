/**
 * Float32 arrays <-> little-endian bytes, the on-disk layout of every weight
 * (so a checkpoint written on one machine loads on any other).
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function float32ToLeBytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return out;
}

export function leBytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`float32 data must be a multiple of 4 bytes, got ${bytes.length}`);
  // Copy into a fresh, 4-byte-aligned buffer of exactly this length (a Node
  // Buffer's slice() is a view into a shared pool, not a copy).
  if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(bytes).buffer);
  const out = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The arrays one after another in one new array. */
export function concatFloat32(arrays: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  for (let i = 0, at = 0; i < arrays.length; at += arrays[i].length, i++) out.set(arrays[i], at);
  return out;
}
