import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/**
 * sha256 (hex) of a typed array's bytes, hashed in place: the bytes as they
 * lie in memory, which is little-endian wherever Node and browsers run.
 */
export function digestOf(bytes: ArrayBufferView): string {
  return bytesToHex(sha256(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
}
