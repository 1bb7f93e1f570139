import { inflateSync } from 'node:zlib';
import { InputError } from '../core/errors.js';
import type { DecodedImage } from './observation-source.js';

/**
 * A small PNG decoder for sensor_msgs/CompressedImage in Node (8-bit
 * grey, grey+alpha, RGB and RGBA, not interlaced: what image_transport's
 * png plugin writes for 8-bit images). Browsers can pass their own decoder
 * to the observation source instead.
 */
const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

export function decodePng(bytes: Uint8Array): DecodedImage {
  const fail = (why: string): never => {
    throw new InputError('png', `${bytes.length} bytes`, why);
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail('a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (data.length !== length) fail('a complete PNG (truncated chunk)');
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const depth = data[8];
      const colour = data[9];
      const interlace = data[12];
      if (depth !== 8) fail(`an 8-bit PNG (bit depth ${depth})`);
      if (!(colour in CHANNELS)) fail(`a grey, grey+alpha, RGB or RGBA PNG (colour type ${colour})`);
      if (interlace !== 0) fail('a non-interlaced PNG');
      channels = CHANNELS[colour];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + length;
  }
  if (!channels || idat.length === 0) fail('a PNG with IHDR and IDAT chunks');
  const total = idat.reduce((n, d) => n + d.length, 0);
  const packed = new Uint8Array(total);
  let o = 0;
  for (const d of idat) {
    packed.set(d, o);
    o += d.length;
  }
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(packed));
  } catch (err) {
    return fail(`valid compressed PNG data (${(err as Error).message})`);
  }
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) fail('PNG data for every row');
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? out.subarray((y - 1) * stride, y * stride) : undefined;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0;
      const b = prev ? prev[x] : 0;
      const c = prev && x >= channels ? prev[x - channels] : 0;
      let v = line[x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          fail(`a PNG row filter 0-4 (row ${y} has ${filter})`);
      }
      row[x] = v & 0xff;
    }
  }
  return { width, height, channels, data: out };
}
