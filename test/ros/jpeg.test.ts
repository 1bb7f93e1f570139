import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { decodeJpeg } from '../../src/ros/jpeg-decode.js';

describe('CompressedImage JPEG decoding', () => {
  it('decodes to RGB: flat regions keep their colour, and broken bytes are an input error', () => {
    const width = 32;
    const height = 16;
    const rgba = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const left = x < width / 2;
        rgba.set(left ? [200, 30, 40, 255] : [20, 90, 220, 255], (y * width + x) * 4);
      }
    const file = jpeg.encode({ width, height, data: rgba }, 95).data;
    const img = decodeJpeg(new Uint8Array(file));
    expect({ width: img.width, height: img.height, channels: img.channels, bytes: img.data.length }).toEqual({ width, height, channels: 3, bytes: width * height * 3 });
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));
    at(4, 8).forEach((v, c) => expect(Math.abs(v - [200, 30, 40][c])).toBeLessThan(8));
    at(27, 8).forEach((v, c) => expect(Math.abs(v - [20, 90, 220][c])).toBeLessThan(8));
    expect(() => decodeJpeg(file.subarray(0, 40))).toThrow(/jpeg.*40 bytes.*decodable JPEG/);
  });
});
