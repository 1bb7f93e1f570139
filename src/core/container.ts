import { Packr } from 'msgpackr';
import { digestOf } from './digest.js';
import { CorruptFileError } from './errors.js';

/**
 * A self-checking binary file: a msgpack map
 * `{ format, version, sha256, payload }` whose `payload` is the msgpack
 * encoding of the body and `sha256` its hex digest. Plain msgpack (no
 * msgpackr records or extensions), so any msgpack reader can open it; the
 * only binary values are byte strings.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export interface ContainerHeader {
  format: string;
  version: number;
}

export function encodeContainer(header: ContainerHeader, body: unknown): Uint8Array {
  const payload = packr.pack(body);
  return packr.pack({ format: header.format, version: header.version, sha256: digestOf(payload), payload });
}

/**
 * Decode and verify. Every failure is a CorruptFileError naming `path` and
 * what is wrong; nothing in the file is executed, only data is read.
 */
export function decodeContainer(bytes: Uint8Array, path: string, format: string, versions: readonly number[], what = format): { version: number; body: unknown } {
  let outer: unknown;
  try {
    outer = packr.unpack(bytes);
  } catch (err) {
    throw new CorruptFileError(path, `not a readable ${what} file (${(err as Error).message}); it may be truncated or of another format`);
  }
  if (typeof outer !== 'object' || outer === null || Array.isArray(outer)) {
    throw new CorruptFileError(path, `not a ${what} file (no header map)`);
  }
  const o = outer as Record<string, unknown>;
  if (o.format !== format) {
    const what = typeof o.format === 'string' ? `a '${o.format}' file` : 'not a flowpolicy file';
    throw new CorruptFileError(path, `${what}, expected format '${format}'`);
  }
  if (typeof o.version !== 'number' || !versions.includes(o.version)) {
    throw new CorruptFileError(path, `format version ${String(o.version)} is not supported, expected ${versions.join(' or ')}`);
  }
  if (!(o.payload instanceof Uint8Array) || typeof o.sha256 !== 'string') {
    throw new CorruptFileError(path, 'header lacks its payload or checksum');
  }
  const digest = digestOf(o.payload);
  if (digest !== o.sha256) {
    throw new CorruptFileError(path, `checksum mismatch (sha256 ${digest.slice(0, 12)}... != recorded ${o.sha256.slice(0, 12)}...): the file is corrupt`);
  }
  try {
    return { version: o.version, body: packr.unpack(o.payload) };
  } catch (err) {
    throw new CorruptFileError(path, `payload unreadable (${(err as Error).message})`);
  }
}
