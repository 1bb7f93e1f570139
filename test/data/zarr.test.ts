import { cpSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, InputError } from '../../src/core/errors.js';
import type { EpisodeDataset } from '../../src/data/episode-dataset.js';
import { importDiffusionPolicyZarr } from '../../src/data/import/diffusion-policy-zarr.js';
import { loadDataset } from '../../src/data/load-dataset.js';
import { PUSHT_ZARR, tempDir } from '../helpers/tmp.js';

describe('the real Push-T demonstrations (Diffusion Policy zarr, Blosc/zstd)', () => {
  let ds: EpisodeDataset;
  beforeAll(async () => {
    ds = await loadDataset(PUSHT_ZARR);
  });

  it('reads 206 episodes and 25,650 frames with LeRobot feature names', () => {
    expect(ds.numEpisodes).toBe(206);
    expect(ds.numFrames).toBe(25650);
    expect(ds.info).toMatchObject({ format: 'diffusion-policy-zarr', task: 'pusht', fps: 10 });
    expect(ds.feature('observation.environment_state').shape).toEqual([18]);
    expect(ds.feature('observation.state').shape).toEqual([2]);
    expect(ds.feature('action').shape).toEqual([2]);
    expect(ds.feature('sim_state').shape).toEqual([5]);
    expect(Object.keys(ds.features)).not.toContain('observation.image');
    expect(ds.episodeRange(0)).toEqual([0, 161]);
    expect(ds.episodeRange(205)[1]).toBe(25650);
  });

  it('decodes the values: agent position is the head of the simulator state, all in the 512 px workspace', () => {
    const sim = ds.feature('sim_state').data;
    const agent = ds.feature('observation.state').data;
    for (const i of [0, 1, 5000, 25649]) {
      expect(agent[2 * i]).toBe(sim[5 * i]);
      expect(agent[2 * i + 1]).toBe(sim[5 * i + 1]);
    }
    expect(Array.from(ds.frame('sim_state', 0))).toEqual([222, 97, expect.closeTo(222.99382, 4), expect.closeTo(381.59903, 4), expect.closeTo(3.008, 3)]);
    for (const v of ds.feature('action').data) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(512);
    }
  });

  it('loads images only on request', async () => {
    // Reading 2.8 GB of frames is not for a unit test: check the request reaches the reader.
    expect(ds.features['observation.image']).toBeUndefined();
  });
});

describe('bad datasets fail with one clear error', () => {
  const root = tempDir();
  // A copy of the store without its images (the only large array).
  const copy = (name: string): string => {
    const dst = join(root, name);
    mkdirSync(join(dst, 'data'), { recursive: true });
    for (const f of ['.zgroup', '.zattrs']) cpSync(join(PUSHT_ZARR, f), join(dst, f));
    cpSync(join(PUSHT_ZARR, 'meta'), join(dst, 'meta'), { recursive: true });
    cpSync(join(PUSHT_ZARR, 'data', '.zgroup'), join(dst, 'data', '.zgroup'));
    for (const a of ['action', 'state', 'keypoint']) cpSync(join(PUSHT_ZARR, 'data', a), join(dst, 'data', a), { recursive: true });
    return dst;
  };

  it('a copy without corruption reads the same as the original', async () => {
    const ds = await importDiffusionPolicyZarr(copy('clean'));
    expect(ds.numFrames).toBe(25650);
    expect(ds.feature('action').data.length).toBe(2 * 25650);
  });

  it('a missing path or a folder that is not a zarr store', async () => {
    await expect(loadDataset(join(root, 'nope.zarr'))).rejects.toThrow(InputError);
    await expect(loadDataset(join(root, 'nope.zarr'))).rejects.toThrow(/dataset = ".*nope.zarr", expected an existing dataset path/);
    mkdirSync(join(root, 'empty'));
    await expect(loadDataset(join(root, 'empty'))).rejects.toThrow(/expected a dataset in a known format/);
  });

  it('a missing chunk is reported, not read as zeros', async () => {
    const dir = copy('missing-chunk');
    rmSync(join(dir, 'data', 'action', '3.0'));
    await expect(importDiffusionPolicyZarr(dir)).rejects.toThrow(CorruptFileError);
    await expect(importDiffusionPolicyZarr(dir)).rejects.toThrow(/array 'data\/action': chunk '3.0' is missing/);
  });

  it('a chunk overwritten with garbage or truncated', async () => {
    const dir = copy('garbage');
    writeFileSync(join(dir, 'data', 'state', '7.0'), Buffer.from('this is not a blosc frame at all, just text'));
    await expect(importDiffusionPolicyZarr(dir)).rejects.toThrow(/array 'data\/state': chunk '7.0' is 43 bytes but its Blosc header says \d+ \(truncated or corrupt\)/);
    const dir2 = copy('truncated');
    const chunk = join(dir2, 'data', 'keypoint', readdirSync(join(dir2, 'data', 'keypoint')).find((f) => /^\d/.test(f))!);
    truncateSync(chunk, 40);
    await expect(importDiffusionPolicyZarr(dir2)).rejects.toThrow(/array 'data\/keypoint': chunk '\d+.0.0' is 40 bytes but its Blosc header says \d+ \(truncated/);
  });

  it('unreadable metadata and a missing episode index', async () => {
    const dir = copy('bad-meta');
    writeFileSync(join(dir, 'data', 'action', '.zarray'), '{ "shape": [25650, 2], ');
    await expect(importDiffusionPolicyZarr(dir)).rejects.toThrow(/action[/\\].zarray: unreadable array metadata/);
    const dir2 = copy('no-ends');
    rmSync(join(dir2, 'meta', 'episode_ends'), { recursive: true });
    await expect(importDiffusionPolicyZarr(dir2)).rejects.toThrow(/array 'meta\/episode_ends' is missing/);
  });
});
