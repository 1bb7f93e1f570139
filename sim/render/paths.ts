/**
 * Where the browser-side code lives on disk. The pages load compiled
 * modules from dist/sim (built by `npm run build`), whether this module runs
 * from dist/ itself or from the TypeScript sources through tsx, and `three`
 * from its package's build folder.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // <root>/sim/render or <root>/dist/sim/render

/** dist/sim: the compiled simulation modules served to the pages. */
export function distSimDir(): string {
  const simDir = resolve(here, '..');
  return basename(dirname(simDir)) === 'dist' ? simDir : resolve(simDir, '..', 'dist', 'sim');
}

/** node_modules/three/build (three.module.js and the three.core.js it imports). */
export function threeBuildDir(): string {
  return dirname(createRequire(import.meta.url).resolve('three'));
}

/** Fail early, with the fix, when the compiled page modules are missing. */
export function requireBuilt(relative: string): void {
  const path = join(distSimDir(), relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: the browser pages load the compiled modules; run \`npm run build\` first`);
}
