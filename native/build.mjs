// Builds the optional native matrix-product kernels (flowpolicy_blas.node)
// against the system's OpenBLAS with node-gyp and the Node headers npm is
// set up with. It runs at install; when it cannot build (no compiler, no
// libopenblas-dev, FLOWPOLICY_NO_NATIVE=1) it says so and exits 0: flowpolicy
// then trains on the wasm backend, slower. Nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = (why) => {
  console.warn(`flowpolicy: native BLAS kernels not built (${why}); training will use the wasm backend.`);
  console.warn('  For the fast path: apt-get install libopenblas-dev (and a C compiler), then `npm rebuild flowpolicy` (or `node native/build.mjs` in a checkout).');
  process.exit(0);
};

if (process.env.FLOWPOLICY_NO_NATIVE === '1') skip('FLOWPOLICY_NO_NATIVE=1');
const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
const gyp = candidates.find((p) => p && existsSync(p));
if (!gyp) skip('node-gyp not found (it ships with npm)');

// Build against the headers of the running Node (never downloaded): npm's nodedir, else Node's own install prefix.
const nodedir = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')].find((d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')));
if (!nodedir) skip(`no Node headers (include/node/node_api.h) under ${join(dirname(process.execPath), '..')} or npm's nodedir`);

const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  rmSync(join(here, 'build'), { recursive: true, force: true });
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => /error|cannot find|No such file/i.test(l));
  skip(lines.slice(0, 3).join(' | ').trim() || `node-gyp exited with ${r.status}`);
}
console.log(`flowpolicy: built native BLAS kernels (${join(here, 'build', 'Release', 'flowpolicy_blas.node')})`);
