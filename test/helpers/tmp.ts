import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A temporary folder removed after the test file. */
export function tempDir(prefix = 'flowpolicy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const PUSHT_ZARR = new URL('../../../shared/datasets/pusht_cchi_v7_replay.zarr', import.meta.url).pathname;
