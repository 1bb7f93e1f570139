import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptFileError, InputError, InputErrors } from '../../src/core/errors.js';
import { appendEpisodes, writeEpisodes, type Episode } from '../../src/data/export/episode-writer.js';
import { readFlowpolicyStore } from '../../src/data/import/flowpolicy-zarr.js';
import { loadDataset } from '../../src/data/load-dataset.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The project's own dataset format: what the recorders write must read back
 * bit for bit, never be half-written, and fail loudly when damaged.
 */

/** An episode of `n` frames with values that differ everywhere (so a misplaced row shows). */
function episode(seed: number, n: number, withStates = true): Episode {
  const f = (k: number, t: number, d: number): number => Math.fround(seed * 1000 + t * 10 + d + k * 0.125 + 1 / 3);
  const frames = (k: number, d: number): Float32Array[] => Array.from({ length: n }, (_, t) => Float32Array.from({ length: d }, (_, j) => f(k, t, j)));
  return {
    features: { 'observation.state': frames(1, 2), 'observation.environment_state': frames(2, 6), action: frames(3, 2) },
    ...(withStates ? { states: Array.from({ length: n }, (_, t) => Float64Array.from([seed + t / 3, Math.PI * t, -1e-300, 1e300, seed * 0.1])) } : {}),
  };
}

const root = tempDir('flowpolicy-writer-');
let counter = 0;
const fresh = (): string => join(root, `ds-${counter++}.zarr`);

/** Every value of every episode appears, in order, in the loaded dataset. */
async function expectSame(path: string, episodes: Episode[]): Promise<void> {
  const ds = await loadDataset(path);
  expect(ds.info).toMatchObject({ format: 'flowpolicy-dataset', fps: 10, task: 'pusht' });
  expect(ds.numEpisodes).toBe(episodes.length);
  let row = 0;
  episodes.forEach((ep, e) => {
    const n = ep.features.action.length;
    expect(ds.episodeRange(e)).toEqual([row, row + n]);
    for (let t = 0; t < n; t++, row++) {
      for (const name of Object.keys(ep.features)) expect(ds.frame(name, row)).toEqual(ep.features[name][t]);
      if (ep.states) expect(ds.frame('sim_state', row)).toEqual(Float32Array.from(ep.states[t]));
    }
  });
  expect(ds.numFrames).toBe(row);
  const store = await readFlowpolicyStore(path);
  const states = episodes.flatMap((ep) => ep.states ?? []);
  if (states.length) expect(Array.from(store.states!.data)).toEqual(states.flatMap((s) => Array.from(s)));
}

/** Sorted relative paths and contents of every file under dir. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else out[`${rel}${name}`] = readFileSync(p).toString('base64');
    }
  };
  walk(dir, '');
  return out;
}

/** Anything left in `root` besides the datasets the tests made on purpose. */
const leftovers = (): string[] => readdirSync(root).filter((n) => n.startsWith('.'));

describe('round trip', () => {
  it('reads back every value exactly, states as float64 on disk, across several chunks', async () => {
    const path = fresh();
    const eps = [episode(1, 7), episode(2, 1), episode(3, 12)];
    const summary = await writeEpisodes(path, eps, { fps: 10, task: 'pusht', chunkBytes: 40 });
    expect(summary).toMatchObject({ numEpisodes: 3, numFrames: 20 });
    await expectSame(path, eps);
    const zarray = JSON.parse(readFileSync(join(path, 'data', 'action', '.zarray'), 'utf8'));
    expect(zarray).toMatchObject({ shape: [20, 2], chunks: [5, 2], dtype: '<f4', compressor: null });
    expect(JSON.parse(readFileSync(join(path, 'data', 'sim_state', '.zarray'), 'utf8')).dtype).toBe('<f8');
    expect(JSON.parse(readFileSync(join(path, 'meta', 'episode_ends', '.zarray'), 'utf8')).dtype).toBe('<i8');
    expect(leftovers()).toEqual([]);
  });

  it('records shapes and names given for features, and no states when none are given', async () => {
    const path = fresh();
    const eps = [episode(4, 3, false)];
    await writeEpisodes(path, eps, { fps: 10, task: 'pusht', features: { 'observation.environment_state': { shape: [3, 2], names: ['x', 'y'] } } });
    const ds = await loadDataset(path);
    expect(ds.feature('observation.environment_state').shape).toEqual([3, 2]);
    expect(ds.features.sim_state).toBeUndefined();
    const attrs = JSON.parse(readFileSync(join(path, '.zattrs'), 'utf8'));
    expect(attrs).toMatchObject({ format: 'flowpolicy-dataset', version: 1, features: { action: { shape: [2] }, 'observation.environment_state': { shape: [3, 2], names: ['x', 'y'] } } });
    expect(attrs.sim_state).toBeUndefined();
    await expectSame(path, eps);
  });

  it('append adds episodes after the existing ones', async () => {
    const path = fresh();
    await writeEpisodes(path, [episode(1, 4)], { fps: 10, task: 'pusht', chunkBytes: 24 });
    const summary = await appendEpisodes(path, [episode(2, 5), episode(3, 2)], { chunkBytes: 24 });
    expect(summary).toMatchObject({ numEpisodes: 3, numFrames: 11 });
    await appendEpisodes(path, [episode(4, 1)]);
    await expectSame(path, [episode(1, 4), episode(2, 5), episode(3, 2), episode(4, 1)]);
    expect(leftovers()).toEqual([]);
  });

  it('overwrite replaces a dataset; without it an existing path is refused', async () => {
    const path = fresh();
    await writeEpisodes(path, [episode(1, 4)], { fps: 10, task: 'pusht' });
    await expect(writeEpisodes(path, [episode(2, 2)], { fps: 10, task: 'pusht' })).rejects.toThrow(/path = ".*", expected a path that does not exist yet \(pass \{ overwrite: true \}/);
    await writeEpisodes(path, [episode(2, 2)], { fps: 10, task: 'pusht', overwrite: true });
    await expectSame(path, [episode(2, 2)]);
    const notOurs = join(root, 'not-a-dataset');
    writeFileSync(notOurs, 'precious');
    await expect(writeEpisodes(notOurs, [episode(2, 2)], { fps: 10, overwrite: true })).rejects.toThrow(/overwrite never replaces anything else/);
    expect(readFileSync(notOurs, 'utf8')).toBe('precious');
    expect(leftovers()).toEqual([]);
  });
});

describe('nothing half-written', () => {
  it('a bad episode late in the list leaves neither the dataset nor a temporary directory', async () => {
    const path = fresh();
    const eps = [episode(1, 5), episode(2, 5), episode(3, 5), episode(4, 20)];
    eps[3].features.action[12] = new Float32Array(3);
    await expect(writeEpisodes(path, eps, { fps: 10, task: 'pusht' })).rejects.toThrow(InputError);
    expect(existsSync(path)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a failed overwrite or append leaves the existing dataset byte for byte', async () => {
    const path = fresh();
    await writeEpisodes(path, [episode(1, 6)], { fps: 10, task: 'pusht' });
    const before = snapshot(path);
    const bad = [episode(2, 3), episode(3, 3)];
    bad[1].states![2] = new Float64Array(4);
    await expect(writeEpisodes(path, bad, { fps: 10, task: 'pusht', overwrite: true })).rejects.toThrow(/episodes\[1\]\.states\[2\]/);
    await expect(appendEpisodes(path, bad)).rejects.toThrow(/episodes\[1\]\.states\[2\]/);
    await expect(appendEpisodes(path, [episode(2, 3, false)])).rejects.toThrow(/episodes\[0\]\.states = undefined, expected an array of 3 Float64Array states/);
    expect(snapshot(path)).toEqual(before);
    expect(leftovers()).toEqual([]);
  });
});

describe('bad input names the field, the value and what was expected', () => {
  const write = (eps: unknown, opts: unknown = { fps: 10 }): Promise<unknown> => writeEpisodes(fresh(), eps as Episode[], opts as never);

  it('frames of the wrong length, type or value', async () => {
    const eps = [episode(1, 4), episode(2, 4), episode(3, 4), episode(4, 14)];
    eps[3].features.action[12] = new Float32Array(3);
    await expect(write(eps)).rejects.toThrow('episodes[3].features.action[12] = Float32Array of length 3, expected a Float32Array of length 2 (shape [2])');
    eps[3].features.action[12] = [1, 2] as unknown as Float32Array;
    await expect(write(eps)).rejects.toThrow('episodes[3].features.action[12] = an array of length 2, expected a Float32Array of length 2');
    eps[3].features.action[12] = Float32Array.of(1, Number.NaN);
    await expect(write(eps)).rejects.toThrow('episodes[3].features.action[12][1] = NaN, expected a finite number');
  });

  it('features missing, extra, of unequal frame counts; states in some episodes only', async () => {
    const eps = [episode(1, 4), episode(2, 4)];
    delete (eps[1].features as Record<string, unknown>).action;
    await expect(write(eps)).rejects.toThrow(/episodes\[1\]\.features\.action = undefined, expected an array with one Float32Array per frame/);
    eps[1] = episode(2, 4);
    eps[1].features.extra = eps[1].features.action;
    await expect(write(eps)).rejects.toThrow(/episodes\[1\]\.features\.extra = an array of length 4, expected no such feature: every episode has the features of episodes\[0\] \(observation.state, observation.environment_state, action\)/);
    eps[1] = episode(2, 4);
    eps[1].features.action.pop();
    await expect(write(eps)).rejects.toThrow('episodes[1].features.action = an array of length 3, expected 4 frames, as many as episodes[1].features.observation.state');
    eps[1] = episode(2, 4, false);
    await expect(write(eps)).rejects.toThrow(/episodes\[1\]\.states = undefined, expected an array of 4 Float64Array states, one per frame \(episodes\[0\] has states\)/);
    await expect(write([episode(1, 2, false), episode(2, 2)])).rejects.toThrow(/episodes\[1\]\.states = an array of length 2, expected no states/);
  });

  it('bad options, names and empty input', async () => {
    await expect(write([episode(1, 2)], { fps: 0 })).rejects.toThrow(InputErrors);
    await expect(write([episode(1, 2)], { fps: 0 })).rejects.toThrow(/writeEpisodes options: fps = 0, expected > 0/);
    await expect(write([episode(1, 2)], { fps: 10, features: { action: { shape: [3] } } })).rejects.toThrow('episodes[0].features.action[0] = Float32Array of length 2, expected a Float32Array of length 3 (shape [3])');
    await expect(write([episode(1, 2)], { fps: 10, features: { nope: { shape: [3] } } })).rejects.toThrow(/features\.nope = an object with keys shape, expected a feature the episodes have/);
    await expect(write([], { fps: 10 })).rejects.toThrow('episodes = an array of length 0, expected a non-empty array of episodes');
    await expect(write([{ features: { '../x': [new Float32Array(1)] } }])).rejects.toThrow(/episodes\[0\]\.features\.\.\.\/x = "\.\.\/x", expected a feature name/);
    await expect(write([{ features: { sim_state: [new Float32Array(1)] } }])).rejects.toThrow(/simulator states go in episodes\[i\]\.states/);
    await expect(write([{ features: { action: [] } }])).rejects.toThrow(/episodes\[0\]\.features\.action\[0\] = undefined, expected a non-empty Float32Array/);
    await expect(appendEpisodes(fresh(), [episode(1, 2)])).rejects.toThrow(/expected an existing flowpolicy-dataset directory to append to/);
    expect(leftovers()).toEqual([]);
  });
});

describe('damage on disk is reported by the reader, never read as zeros', () => {
  const damaged = async (): Promise<string> => {
    const path = fresh();
    await writeEpisodes(path, [episode(1, 6), episode(2, 6)], { fps: 10, task: 'pusht', chunkBytes: 32 });
    return path;
  };

  it('a flipped bit in an uncompressed chunk', async () => {
    const path = await damaged();
    const chunk = join(path, 'data', 'action', '1.0');
    const bytes = readFileSync(chunk);
    bytes[5] ^= 0x10;
    writeFileSync(chunk, bytes);
    await expect(loadDataset(path)).rejects.toThrow(CorruptFileError);
    await expect(loadDataset(path)).rejects.toThrow(/array 'data\/action': values do not match the sha256 in data\/action\/\.zattrs/);
  });

  it('a chunk zeroed, truncated or missing; states and episode ends included', async () => {
    let path = await damaged();
    writeFileSync(join(path, 'data', 'sim_state', '0.0'), new Uint8Array(statSync(join(path, 'data', 'sim_state', '0.0')).size));
    await expect(loadDataset(path)).rejects.toThrow(/array 'data\/sim_state': values do not match/);
    path = await damaged();
    truncateSync(join(path, 'data', 'observation.state', '2.0'), 10);
    await expect(loadDataset(path)).rejects.toThrow(/array 'data\/observation.state': chunk '2.0' is 10 bytes, expected 32 \(truncated or corrupt\)/);
    path = await damaged();
    rmSync(join(path, 'data', 'action', '2.0'));
    await expect(loadDataset(path)).rejects.toThrow(/array 'data\/action': chunk '2.0' is missing/);
    path = await damaged();
    writeFileSync(join(path, 'meta', 'episode_ends', '0'), new Uint8Array(16));
    await expect(loadDataset(path)).rejects.toThrow(/array 'meta\/episode_ends': values do not match/);
  });

  it('bad attributes name the field; unparseable ones are not mistaken for a Diffusion Policy store', async () => {
    let path = await damaged();
    const attrs = JSON.parse(readFileSync(join(path, '.zattrs'), 'utf8'));
    writeFileSync(join(path, '.zattrs'), JSON.stringify({ ...attrs, fps: -1, version: 2 }));
    await expect(loadDataset(path)).rejects.toThrow(InputErrors);
    await expect(loadDataset(path)).rejects.toThrow(/version = 2, expected one of 1[\s\S]*fps = -1, expected > 0/);
    writeFileSync(join(path, '.zattrs'), JSON.stringify({ ...attrs, features: { ...attrs.features, action: { shape: [3] } } }));
    await expect(loadDataset(path)).rejects.toThrow(/array 'data\/action' has shape \[12,2\], expected \[12,3\]/);
    writeFileSync(join(path, '.zattrs'), '{"format": "flowpolicy-dataset", "fps": 1');
    await expect(loadDataset(path)).rejects.toThrow(/\.zattrs: unreadable JSON/);
    path = await damaged();
    rmSync(join(path, 'data', 'action', '.zattrs'));
    await expect(loadDataset(path)).rejects.toThrow(/data\/action\/\.zattrs is missing/);
  });
});

/** Debian's python3-zarr (2.13 in bookworm) is the zarr a CI machine can apt-get. */
const python = spawnSync('/usr/bin/python3', ['-c', 'import zarr'], { encoding: 'utf8' });
const hasZarr = python.status === 0;
if (!hasZarr) console.warn(`skipping the python zarr interop test: /usr/bin/python3 cannot import zarr (apt-get install python3-zarr): ${(python.stderr ?? String(python.error)).trim().split('\n').pop()}`);

describe.skipIf(!hasZarr)('python zarr reads the store (interop)', () => {
  it('shapes, dtypes, values and attributes', async () => {
    const path = fresh();
    const eps = [episode(1, 7), episode(2, 5)];
    await writeEpisodes(path, eps, { fps: 10, task: 'pusht', chunkBytes: 40 });
    const script = `
import json, sys, zarr
g = zarr.open_group(sys.argv[1], mode='r')
out = {k: {'shape': list(a.shape), 'dtype': str(a.dtype), 'values': a[:].ravel().tolist()} for k, a in
       [('action', g['data/action']), ('observation.state', g['data']['observation.state']),
        ('sim_state', g['data/sim_state']), ('episode_ends', g['meta/episode_ends'])]}
out['attrs'] = dict(g.attrs)
print(json.dumps(out))`;
    const run = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const got = JSON.parse(run.stdout);
    expect(got.attrs).toMatchObject({ format: 'flowpolicy-dataset', version: 1, fps: 10, task: 'pusht', sim_state: { shape: [5] } });
    expect(got.episode_ends).toEqual({ shape: [2], dtype: 'int64', values: [7, 12] });
    expect(got.action.shape).toEqual([12, 2]);
    expect(got.action.dtype).toBe('float32');
    expect(got.action.values).toEqual(eps.flatMap((ep) => ep.features.action.flatMap((f) => Array.from(f))));
    expect(got['observation.state'].values).toEqual(eps.flatMap((ep) => ep.features['observation.state'].flatMap((f) => Array.from(f))));
    expect(got.sim_state.dtype).toBe('float64');
    expect(got.sim_state.values).toEqual(eps.flatMap((ep) => ep.states!.flatMap((s) => Array.from(s))));
  });
});
