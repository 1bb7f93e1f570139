import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as zarr from 'zarrita';
import { FileSystemStore } from '@zarrita/storage';
import { CorruptFileError, InputError } from '../core/errors.js';

/**
 * Reading of Zarr v2 directory stores (the replay buffers Diffusion Policy
 * writes) through zarrita, whose codecs (Blosc, zstd, ...) come from
 * numcodecs. Checks what zarrita lets pass: a missing chunk file would
 * otherwise read as fill values, silently.
 */
export interface ZarrArrayData {
  shape: number[];
  dtype: string;
  data: Float32Array | Int32Array;
}

const EXPECTED_STORE = 'a Zarr v2 directory store (a directory holding .zgroup)';

export function assertZarrGroup(path: string, field = 'dataset'): void {
  if (!existsSync(path)) throw new InputError(field, path, `${EXPECTED_STORE}; the path does not exist`);
  if (!statSync(path).isDirectory()) throw new InputError(field, path, `${EXPECTED_STORE}; this is a file`);
  if (!existsSync(join(path, '.zgroup'))) throw new InputError(field, path, `${EXPECTED_STORE}; there is no .zgroup here`);
}

/** Names of the arrays directly under `group` (relative to the store root). */
export function listZarrArrays(root: string, group: string): string[] {
  const dir = join(root, group);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, '.zarray')))
    .sort();
}

interface ZarrayMeta {
  shape: number[];
  chunks: number[];
  dtype: string;
  compressor?: { id?: string } | null;
  dimension_separator?: string;
}

/**
 * A Blosc frame records its own sizes in a 16-byte header (bytes 4-7: the
 * uncompressed size, 12-15: the frame's total size). numcodecs decodes a
 * truncated frame without complaint, so compare the header with the file.
 */
function checkBloscFrame(root: string, name: string, key: string, bytes: Uint8Array, expectedBytes: number): void {
  const where = `array '${name}': chunk '${key}'`;
  if (bytes.length < 16) throw new CorruptFileError(root, `${where} has ${bytes.length} bytes, less than a Blosc header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nbytes = view.getUint32(4, true);
  const cbytes = view.getUint32(12, true);
  if (cbytes !== bytes.length) throw new CorruptFileError(root, `${where} is ${bytes.length} bytes but its Blosc header says ${cbytes} (truncated or corrupt)`);
  if (nbytes !== expectedBytes) throw new CorruptFileError(root, `${where} holds ${nbytes} bytes uncompressed, expected ${expectedBytes}`);
}

/** Every chunk key of an array, in C order ("0.0", "0.1", ...; "0" for a 0-d array). */
export function chunkKeys(shape: readonly number[], chunks: readonly number[], separator = '.'): string[] {
  const counts = shape.map((n, i) => Math.ceil(n / chunks[i]));
  const keys: string[] = [];
  const idx = new Array<number>(counts.length).fill(0);
  const total = counts.reduce((a, b) => a * b, 1);
  for (let k = 0; k < total; k++) {
    keys.push(idx.length === 0 ? '0' : idx.join(separator));
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < counts[d]) break;
      idx[d] = 0;
    }
  }
  return keys;
}

/**
 * Decode every chunk and check its size: numcodecs' Blosc decoder returns an
 * empty buffer for a corrupt frame rather than failing, and zarrita would
 * then fill that chunk with zeros. Chunks that split only the first axis
 * (every Diffusion Policy replay buffer) are assembled here from the checked
 * chunks; other layouts are assembled by zarrita after the check.
 */
async function readChecked(root: string, name: string, meta: ZarrayMeta): Promise<{ data: unknown; shape: number[] }> {
  const store = new FileSystemStore(root);
  const arr = await zarr.open.v2(zarr.root(store).resolve(name), { kind: 'array' });
  const counts = meta.shape.map((n, i) => Math.ceil(n / meta.chunks[i]));
  const chunkSize = meta.chunks.reduce((a, b) => a * b, 1);
  const rowsOnly = meta.shape.length > 0 && meta.chunks.slice(1).every((c, i) => c === meta.shape[i + 1]);
  const rowSize = meta.shape.slice(1).reduce((a, b) => a * b, 1);
  const total = meta.shape.reduce((a, b) => a * b, 1);
  let out: { length: number; set(src: ArrayLike<unknown>, offset: number): void } | null = null;
  const keys = chunkKeys(meta.shape, meta.chunks, meta.dimension_separator ?? '.');
  for (let k = 0; k < keys.length; k++) {
    const coords = keys[k].split(meta.dimension_separator ?? '.').map(Number);
    const c = await arr.getChunk(coords);
    const data = c.data as unknown as { length: number; subarray(a: number, b: number): ArrayLike<unknown>; constructor: new (n: number) => typeof out };
    if (data.length !== chunkSize) {
      throw new CorruptFileError(root, `array '${name}': chunk '${keys[k]}' decodes to ${data.length} values, expected ${chunkSize} (corrupt or truncated)`);
    }
    if (rowsOnly && counts.length > 0) {
      out ??= new data.constructor(total);
      const start = coords[0] * meta.chunks[0] * rowSize;
      const n = Math.min(chunkSize, total - start);
      out!.set(data.subarray(0, n), start);
    }
  }
  if (rowsOnly && out) return { data: out, shape: meta.shape };
  const whole = await zarr.get(arr);
  return { data: whole.data, shape: [...whole.shape] };
}

/** Read a whole array as float32 (int64 and smaller integers as int32). */
export async function readZarrArray(root: string, name: string): Promise<ZarrArrayData> {
  const dir = join(root, name);
  const metaPath = join(dir, '.zarray');
  if (!existsSync(metaPath)) throw new CorruptFileError(root, `array '${name}' is missing (no ${name}/.zarray)`);
  let meta: ZarrayMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as ZarrayMeta;
  } catch (err) {
    throw new CorruptFileError(metaPath, `unreadable array metadata (${(err as Error).message})`);
  }
  const itemBytes = Number(/\d+$/.exec(meta.dtype ?? '')?.[0] ?? 0);
  const chunkBytes = meta.chunks.reduce((a, b) => a * b, 1) * itemBytes;
  for (const key of chunkKeys(meta.shape, meta.chunks, meta.dimension_separator ?? '.')) {
    const file = join(dir, key);
    if (!existsSync(file)) throw new CorruptFileError(root, `array '${name}': chunk '${key}' is missing`);
    if (meta.compressor?.id === 'blosc' && itemBytes > 0) checkBloscFrame(root, name, key, readFileSync(file), chunkBytes);
  }
  let chunk: { data: unknown; shape: number[] };
  try {
    chunk = await readChecked(root, name, meta);
  } catch (err) {
    if (err instanceof CorruptFileError) throw err;
    throw new CorruptFileError(root, `array '${name}' could not be decoded (${(err as Error).message})`);
  }
  const raw = chunk.data as ArrayLike<number | bigint>;
  const shape = [...chunk.shape];
  const dtype = (chunk.data as { constructor: { name: string } }).constructor.name;
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
    const out = new Int32Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const v = Number(raw[i]);
      if (!Number.isSafeInteger(v) || v > 2 ** 31 - 1 || v < -(2 ** 31)) {
        throw new CorruptFileError(root, `array '${name}'[${i}] = ${v} does not fit a 32-bit index`);
      }
      out[i] = v;
    }
    return { shape, dtype, data: out };
  }
  if (raw instanceof Int32Array || raw instanceof Int16Array || raw instanceof Int8Array || raw instanceof Uint16Array || raw instanceof Uint8Array) {
    if (name.endsWith('episode_ends')) return { shape, dtype, data: Int32Array.from(raw as ArrayLike<number>) };
  }
  if (raw instanceof Float32Array) return { shape, dtype, data: raw };
  if (typeof (raw as ArrayLike<number>)[0] === 'number' || raw.length === 0) return { shape, dtype, data: Float32Array.from(raw as ArrayLike<number>) };
  throw new CorruptFileError(root, `array '${name}' has dtype ${dtype}, expected a numeric array`);
}
