import { describe, expect, it } from 'vitest';
import { EpisodeDataset } from '../../src/data/episode-dataset.js';
import { computeStats, Normalizer } from '../../src/data/normalizer.js';
import { splitEpisodes } from '../../src/data/split.js';
import { WindowSampler } from '../../src/data/windows.js';

/** Two episodes (lengths 5 and 3) whose features encode the global frame index. */
function indexDataset(): EpisodeDataset {
  const n = 8;
  const obs = Float32Array.from({ length: n }, (_, i) => i);
  const pos = Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 === 0 ? 100 + (k >> 1) : -(k >> 1)));
  const act = Float32Array.from({ length: n }, (_, i) => 10 * i);
  return new EpisodeDataset({ a: { shape: [1], data: obs }, b: { shape: [2], data: pos }, action: { shape: [1], data: act } }, Int32Array.from([5, 8]), {
    source: 'index',
    format: 'memory',
    fps: 10,
  });
}

describe('windows', () => {
  const spec = { obsKeys: ['a', 'b'], actionKey: 'action', obsHorizon: 2, predHorizon: 4, padBefore: 1, padAfter: 1 };

  it('cover each episode from -padBefore to L - Tp + padAfter, never crossing episodes', () => {
    const w = new WindowSampler(indexDataset(), spec, [0, 1]);
    // Episode 0 (L = 5): starts -1..2 (4 windows); episode 1 (L = 3): starts -1..0 (2 windows).
    expect(w.length).toBe(6);
    expect(w.obsDim).toBe(3);
    const obs = new Float32Array(6 * 2 * 3);
    const act = new Float32Array(6 * 4);
    w.fill([0, 1, 2, 3, 4, 5], obs, act);
    // Window 0 starts at -1: the first frame repeats.
    expect(Array.from(obs.subarray(0, 6))).toEqual([0, 100, -0, 0, 100, -0]);
    expect(Array.from(act.subarray(0, 4))).toEqual([0, 0, 10, 20]);
    // Window 3 starts at 2 and runs past the end (frame 4 is last): the last frame repeats.
    expect(Array.from(act.subarray(12, 16))).toEqual([20, 30, 40, 40]);
    // Window 4: episode 1 starts at global frame 5.
    expect(Array.from(obs.subarray(24, 30))).toEqual([5, 105, -5, 5, 105, -5]);
    expect(Array.from(act.subarray(16, 20))).toEqual([50, 50, 60, 70]);
    expect(Array.from(act.subarray(20, 24))).toEqual([50, 60, 70, 70]);
  });

  it('normalises per feature when given a normalizer', () => {
    const ds = indexDataset();
    const stats = { a: computeStats(ds.feature('a').data, 1), b: computeStats(ds.feature('b').data, 2), action: computeStats(ds.feature('action').data, 1) };
    const norm = new Normalizer(stats, { a: 'min_max', b: 'min_max', action: 'min_max' });
    const w = new WindowSampler(ds, spec, [0]);
    const obs = new Float32Array(2 * 3);
    const act = new Float32Array(4);
    w.fill([0], obs, act, norm);
    expect(Array.from(obs.subarray(0, 3))).toEqual([-1, expect.closeTo(-1, 5), 1]);
    expect(Array.from(act)).toEqual([-1, -1, expect.closeTo(-1 + 2 / 7, 5), expect.closeTo(-1 + 4 / 7, 5)]);
  });

  it('without an action key, reads the observations alone, the same windows as with one', () => {
    const ds = indexDataset();
    const withActions = new WindowSampler(ds, spec, [0, 1]);
    const obsOnly = new WindowSampler(ds, { ...spec, actionKey: null }, [0, 1]);
    expect(obsOnly.length).toBe(withActions.length);
    expect(obsOnly.actionDim).toBe(0);
    const a = new Float32Array(6 * 2 * 3);
    const b = new Float32Array(6 * 2 * 3);
    withActions.fill([0, 1, 2, 3, 4, 5], a, new Float32Array(6 * 4));
    obsOnly.fill([0, 1, 2, 3, 4, 5], b, null);
    expect(b).toEqual(a);
    expect(() => obsOnly.fill([0], b, new Float32Array(4))).toThrow(/observations-only sampler/);
  });

  it('refuses an observation horizon longer than the chunk', () => {
    expect(() => new WindowSampler(indexDataset(), { ...spec, obsHorizon: 5 }, [0])).toThrow(/obsHorizon = 5, expected at most the prediction horizon \(4\)/);
  });
});

describe('normalisation', () => {
  const data = Float32Array.from([1, 10, 2, 10, 3, 10, 5, 10]); // dim 0 varies, dim 1 is constant

  it('computes min, max, mean, std and numpy-style quantiles', () => {
    const s = computeStats(data, 2);
    expect(s.min).toEqual([1, 10]);
    expect(s.max).toEqual([5, 10]);
    expect(s.mean).toEqual([2.75, 10]);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(((1 - 2.75) ** 2 + (2 - 2.75) ** 2 + (3 - 2.75) ** 2 + (5 - 2.75) ** 2) / 4), 10);
    expect(s.q01[0]).toBeCloseTo(1.03, 10);
    expect(s.q99[0]).toBeCloseTo(4.94, 10);
  });

  it('min_max maps [min, max] to [-1, 1], a constant to 0, and inverts exactly', () => {
    const n = new Normalizer({ x: computeStats(data, 2) }, { x: 'min_max' });
    const y = n.normalize('x', data);
    expect(Array.from(y)).toEqual([-1, 0, -0.5, 0, 0, 0, 1, 0]);
    expect(Array.from(n.unnormalize('x', y))).toEqual(Array.from(data));
  });

  it('mean_std standardises and inverts', () => {
    const s = computeStats(data, 2);
    const n = new Normalizer({ x: s }, { x: 'mean_std' });
    const y = n.normalize('x', data);
    expect(y[0]).toBeCloseTo((1 - 2.75) / s.std[0], 5);
    expect(y[1]).toBe(0);
    n.unnormalize('x', y).forEach((v, i) => expect(v).toBeCloseTo(data[i], 5));
  });

  it('names a feature that has no statistics', () => {
    expect(() => new Normalizer({}, { 'observation.state': 'min_max' })).toThrow(/stats\["observation.state"\] = undefined, expected statistics/);
  });
});

describe('train/validation split', () => {
  it('holds out whole episodes as Diffusion Policy does, reproducibly', () => {
    const s = splitEpisodes(206, { valRatio: 0.02, maxTrainEpisodes: 90, seed: 42 });
    expect(s.val.length).toBe(4);
    expect(s.train.length).toBe(90);
    expect(s.train.filter((e) => s.val.includes(e))).toEqual([]);
    expect(splitEpisodes(206, { valRatio: 0.02, maxTrainEpisodes: 90, seed: 42 })).toEqual(s);
    expect(splitEpisodes(206, { valRatio: 0.02, maxTrainEpisodes: 90, seed: 43 }).val).not.toEqual(s.val);
  });

  it('keeps at least one training and one validation episode', () => {
    expect(splitEpisodes(2, { valRatio: 0.9, seed: 0 }).train.length).toBe(1);
    expect(splitEpisodes(10, { valRatio: 0.001, seed: 0 }).val.length).toBe(1);
    expect(splitEpisodes(10, { valRatio: 0, seed: 0 }).val.length).toBe(0);
  });
});
