import jpeg from 'jpeg-js';
import { InputError } from '../core/errors.js';
import type { DecodedImage } from './observation-source.js';

/**
 * JPEG for sensor_msgs/CompressedImage (image_transport's `compressed`
 * plugin writes JPEG by default), decoded by jpeg-js (pure JavaScript, runs
 * in Node and browsers) to 8-bit RGB. Bounded so a hostile or broken
 * message cannot make the decoder allocate without limit.
 */
export function decodeJpeg(bytes: Uint8Array): DecodedImage {
  try {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 50, maxMemoryUsageInMB: 256 });
    return { width: image.width, height: image.height, channels: 3, data: image.data };
  } catch (err) {
    throw new InputError('jpeg', `${bytes.length} bytes`, `a decodable JPEG image (${(err as Error).message})`);
  }
}
