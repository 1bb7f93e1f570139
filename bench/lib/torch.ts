import { execFileSync, spawnSync } from 'node:child_process';
import { log } from './timing.js';

/** Debian's python3, with Debian's torch (a pyenv python may shadow it on PATH). */
export const PYTHON = '/usr/bin/python3';

/**
 * The BLAS behind Debian's libblas.so.3. Debian's torch calls whichever BLAS
 * the alternatives system provides; the reference BLAS is 20x slower than
 * OpenBLAS, and comparing against it would flatter us.
 */
export function blasInUse(): string {
  const r = spawnSync('sh', ['-c', 'readlink -f /usr/lib/*/libblas.so.3 2>/dev/null | head -1'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return /openblas/.test(path) ? 'openblas' : /blis/.test(path) ? 'blis' : /mkl/.test(path) ? 'mkl' : path ? 'reference' : 'unknown';
}

/**
 * Make PyTorch importable by Debian's python3 on an optimised BLAS,
 * installing what is missing when allowed (root and apt). Returns the torch
 * version and BLAS, or null when PyTorch cannot be had.
 */
export function ensureTorch(options: { install: boolean }): string | null {
  const probe = () => spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  let r = probe();
  const missing = [...(r.status === 0 ? [] : ['python3-torch']), ...(blasInUse() === 'reference' || blasInUse() === 'unknown' ? ['libopenblas0-pthread'] : [])];
  if (missing.length > 0) {
    if (!options.install || process.getuid?.() !== 0) {
      log(`to compare with PyTorch, install Debian's ${missing.join(' ')} (apt-get install ${missing.join(' ')})`);
      if (r.status !== 0) return null;
    } else {
      log(`installing ${missing.join(' ')} from Debian (one time)...`);
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      r = probe();
    }
  }
  return r.status === 0 ? `${r.stdout.trim()} (BLAS: ${blasInUse()})` : null;
}
