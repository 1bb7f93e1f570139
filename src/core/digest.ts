import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

function view(bytes: ArrayBufferView): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A sha256 fed piece by piece (a file written or read chunk by chunk), the
 * same digest as digestOf of the pieces back to back.
 */
export class Sha256Digest {
  private readonly hash = sha256.create();

  update(bytes: ArrayBufferView): this {
    this.hash.update(view(bytes));
    return this;
  }

  /** The hex digest; the digest takes no more pieces after this. */
  hex(): string {
    return bytesToHex(this.hash.digest());
  }
}

/**
 * sha256 (hex) of a typed array's bytes, hashed in place: the bytes as they
 * lie in memory, which is little-endian wherever Node and browsers run.
 */
export function digestOf(bytes: ArrayBufferView): string {
  return bytesToHex(sha256(view(bytes)));
}
