/**
 * Animated GIFs of rendered episodes (evaluation videos): no ffmpeg, no
 * native code; gifenc is pure JavaScript. One palette, built from a sample
 * of the frames, serves every frame, so a colour never flickers between
 * frames; the scenes are flat-coloured and fit easily in 256 colours.
 */

import { createRequire } from 'node:module';
import { writeFileAtomic } from '../../src/core/files.js';
import type { RgbImage } from '../env.js';

// gifenc's CJS build, loaded with require: its ESM entry ("module") and its
// CJS entry ("main") export differently, and bundlers and Node pick different
// ones for an `import`; require always gets the CJS exports object.
const { GIFEncoder, quantize, applyPalette } = createRequire(import.meta.url)('gifenc') as typeof import('gifenc').default;

/** Frames sampled to build the shared palette (enough for flat scenes, bounded for long episodes). */
const PALETTE_FRAMES = 32;

function toRgba(frame: RgbImage): Uint8Array {
  const n = frame.width * frame.height;
  if (frame.data.length !== n * 3) throw new RangeError(`frame of ${frame.width}x${frame.height} has ${frame.data.length} bytes, expected ${n * 3}`);
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    rgba[i * 4] = frame.data[i * 3];
    rgba[i * 4 + 1] = frame.data[i * 3 + 1];
    rgba[i * 4 + 2] = frame.data[i * 3 + 2];
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** Encode frames (all the same size) as a looping GIF at `fps` frames per second. */
export function encodeGif(frames: readonly RgbImage[], fps: number): Uint8Array {
  if (frames.length === 0) throw new RangeError('encodeGif needs at least one frame');
  if (!(fps > 0 && Number.isFinite(fps))) throw new RangeError(`fps must be a positive number, got ${fps}`);
  const { width, height } = frames[0];
  for (const f of frames) {
    if (f.width !== width || f.height !== height) throw new RangeError(`frames differ in size: ${width}x${height} and ${f.width}x${f.height}`);
  }
  const rgba = frames.map(toRgba);
  const step = Math.max(1, Math.ceil(frames.length / PALETTE_FRAMES));
  const sample = rgba.filter((_, i) => i % step === 0);
  const joined = new Uint8Array(sample.reduce((n, f) => n + f.length, 0));
  sample.reduce((offset, f) => (joined.set(f, offset), offset + f.length), 0);
  const palette = quantize(joined, 256);
  const gif = GIFEncoder();
  const delay = 1000 / fps; // gifenc rounds to GIF's 1/100 s
  rgba.forEach((f, i) => gif.writeFrame(applyPalette(f, palette), width, height, i === 0 ? { palette, delay, repeat: 0 } : { delay }));
  gif.finish();
  return gif.bytes();
}

/** Encode and write a GIF so readers never see a half-written file. */
export function writeGif(path: string, frames: readonly RgbImage[], fps: number): void {
  writeFileAtomic(path, encodeGif(frames, fps));
}
