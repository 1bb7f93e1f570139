import { z } from 'zod';
import { CorruptFileError } from '../core/errors.js';
import { float32ToLeBytes, leBytesToFloat32 } from '../core/bytes.js';
import { sizeOf, type WeightMap } from './params.js';

/** One stored tensor: shape, dtype and raw little-endian bytes. */
export const WeightEntry = z
  .object({
    shape: z.array(z.number().int().nonnegative()),
    dtype: z.literal('float32'),
    data: z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'raw little-endian float32 bytes' }),
  })
  .strict();
export type WeightEntry = z.infer<typeof WeightEntry>;
export const WeightRecord = z.record(z.string(), WeightEntry);

export function encodeWeights(weights: WeightMap): Record<string, WeightEntry> {
  const out: Record<string, WeightEntry> = {};
  for (const [name, w] of weights) out[name] = { shape: w.shape, dtype: 'float32', data: float32ToLeBytes(w.data) };
  return out;
}

/** Decode stored tensors, checking each one's byte count against its shape. */
export function decodeWeights(record: Record<string, WeightEntry>, path: string): WeightMap {
  const weights: WeightMap = new Map();
  for (const [name, w] of Object.entries(record)) {
    if (w.data.length !== sizeOf(w.shape) * 4) {
      throw new CorruptFileError(path, `weight '${name}' has ${w.data.length} bytes, expected ${sizeOf(w.shape) * 4} for shape [${w.shape}]`);
    }
    weights.set(name, { shape: w.shape, data: leBytesToFloat32(w.data) });
  }
  return weights;
}
