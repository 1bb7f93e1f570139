import { convertIndexedToRgb, decode } from 'fast-png';
import { InputError } from '../core/errors.js';
import type { DecodedImage } from './observation-source.js';

/**
 * PNG for sensor_msgs/CompressedImage (image_transport's `png` format),
 * decoded by fast-png (pure JavaScript, Node and browsers) to 8 bits per
 * channel: palette images are expanded to RGB(A), 16-bit images keep their
 * high byte, as the policy's image features are 8-bit.
 */
export function decodePng(bytes: Uint8Array): DecodedImage {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (err) {
    throw new InputError('png', `${bytes.length} bytes`, `a decodable PNG image (${(err as Error).message})`);
  }
  if (png.palette) {
    const data = convertIndexedToRgb(png);
    return { width: png.width, height: png.height, channels: data.length / (png.width * png.height), data: Uint8Array.from(data) };
  }
  if (png.depth === 16) {
    const data = new Uint8Array(png.data.length);
    for (let i = 0; i < data.length; i++) data[i] = png.data[i] >> 8;
    return { width: png.width, height: png.height, channels: png.channels, data };
  }
  if (png.depth !== 8) throw new InputError('png', `${png.depth}-bit ${png.channels}-channel image`, 'an 8- or 16-bit PNG, or a palette PNG');
  return { width: png.width, height: png.height, channels: png.channels, data: Uint8Array.from(png.data) };
}
