import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Sha256Digest } from '../../core/digest.js';
import { frameSize } from '../episode-dataset.js';
import { bytesOf, type StoredArray } from '../import/flowpolicy-zarr.js';

/**
 * Writing of Zarr v2 directory stores as plain files (no zarr library: the
 * layout is a few JSON files and raw chunks), durable (each file fsynced)
 * and swapped into place by rename, for src/data/export/episode-writer.ts.
 */

/** A hidden, unique name beside `target` (same directory, so rename stays on one file system). */
export function sibling(target: string, kind: 'tmp' | 'old'): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Rename the finished store into place. An existing one is renamed aside
 * first and deleted only once the new one is in place; if that rename
 * fails, the old one is put back.
 */
export function swapIn(tmp: string, target: string): void {
  if (!existsSync(target)) {
    renameSync(tmp, target);
  } else {
    const aside = sibling(target, 'old');
    renameSync(target, aside);
    try {
      renameSync(tmp, target);
    } catch (err) {
      renameSync(aside, target);
      throw err;
    }
    rmSync(aside, { recursive: true, force: true });
  }
  syncDir(dirname(target));
}

function writeDurable(file: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(file, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Make a rename durable; directories cannot be fsynced everywhere (Windows), where this is best effort. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

export function writeGroup(dir: string, attrs?: object): void {
  mkdirSync(dir, { recursive: true });
  writeDurable(join(dir, '.zgroup'), '{\n  "zarr_format": 2\n}\n');
  if (attrs) writeDurable(join(dir, '.zattrs'), `${JSON.stringify(attrs, null, 2)}\n`);
}

export const ITEM_BYTES = { '<f4': 4, '<f8': 8, '<i8': 8 } as const;

/**
 * Stream rows (blocks of whole rows, back to back) into uncompressed chunks
 * that split the first axis only. The last chunk is padded with the fill
 * value, as zarr readers expect every stored chunk to be whole; the digest
 * covers the values only.
 */
export function writeArray(dir: string, dtype: keyof typeof ITEM_BYTES, rowShape: number[], rows: number, blocks: Iterable<StoredArray>, chunkBytes: number): void {
  mkdirSync(dir, { recursive: true });
  const rowBytes = frameSize(rowShape) * ITEM_BYTES[dtype];
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(chunkBytes / rowBytes)));
  const buf = new Uint8Array(chunkRows * rowBytes);
  const suffix = rowShape.map(() => '.0').join('');
  const digest = new Sha256Digest();
  let filled = 0;
  let chunk = 0;
  let written = 0;
  const flush = (): void => {
    digest.update(buf.subarray(0, filled));
    buf.fill(0, filled);
    writeDurable(join(dir, `${chunk++}${suffix}`), buf);
    written += filled / rowBytes;
    filled = 0;
  };
  for (const block of blocks) {
    const bytes = bytesOf(block);
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(bytes.length - off, buf.length - filled);
      buf.set(bytes.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === buf.length) flush();
    }
  }
  if (filled > 0) flush();
  if (written !== rows) throw new Error(`internal: wrote ${written} rows to ${dir}, expected ${rows}`);
  const meta = {
    zarr_format: 2,
    shape: [rows, ...rowShape],
    chunks: [chunkRows, ...rowShape],
    dtype,
    compressor: null,
    fill_value: 0,
    order: 'C',
    filters: null,
    dimension_separator: '.',
  };
  writeDurable(join(dir, '.zarray'), `${JSON.stringify(meta, null, 2)}\n`);
  writeDurable(join(dir, '.zattrs'), `${JSON.stringify({ sha256: digest.hex() }, null, 2)}\n`);
}
