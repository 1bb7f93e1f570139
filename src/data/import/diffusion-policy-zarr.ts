import { CorruptFileError } from '../../core/errors.js';
import { EpisodeDataset, type Feature } from '../episode-dataset.js';
import { assertZarrGroup, listZarrArrays, readZarrArray } from '../zarr-store.js';

/**
 * Import a Diffusion Policy replay buffer (Zarr v2: `data/<array>` with one
 * row per frame, `meta/episode_ends` with exclusive episode ends) as an
 * EpisodeDataset with LeRobot feature names.
 *
 * Push-T (arrays state [N, 5], keypoint [N, 9, 2], action [N, 2]) maps to
 * - `observation.environment_state` [18]: the 9 keypoints of the T, x then y
 * - `observation.state` [2]: agent x, y (the first two of `state`)
 * - `action` [2]: commanded agent target, pixels
 * - `sim_state` [5]: agent x, y, block x, y, angle (for replay and resets)
 * so that DP's 20-D state observation is [environment_state, state].
 * Other stores keep their array names, with `action` as is and `obs` as
 * `observation.state`. Images (`img`) are read only on request: Push-T's
 * are 2.8 GB as float32.
 */
export interface ImportOptions {
  images?: boolean;
  fps?: number;
}

export async function importDiffusionPolicyZarr(path: string, options: ImportOptions = {}): Promise<EpisodeDataset> {
  assertZarrGroup(path);
  const names = listZarrArrays(path, 'data');
  if (names.length === 0) throw new CorruptFileError(path, 'no arrays under data/ (expected a Diffusion Policy replay buffer)');
  const ends = await readZarrArray(path, 'meta/episode_ends');
  const episodeEnds = Int32Array.from(ends.data);
  const wanted = names.filter((n) => options.images || n !== 'img');
  const arrays: Record<string, Feature> = {};
  for (const name of wanted) {
    const a = await readZarrArray(path, `data/${name}`);
    const rows = a.shape[0];
    const last = episodeEnds.length ? episodeEnds[episodeEnds.length - 1] : 0;
    if (rows !== last) throw new CorruptFileError(path, `data/${name} has ${rows} rows but meta/episode_ends ends at ${last}`);
    arrays[name] = { shape: a.shape.slice(1), data: a.data instanceof Float32Array ? a.data : Float32Array.from(a.data) };
  }
  const isPushT =
    sameShape(arrays.state?.shape, [5]) && sameShape(arrays.keypoint?.shape, [9, 2]) && sameShape(arrays.action?.shape, [2]);
  const features: Record<string, Feature> = {};
  if (isPushT) {
    features['observation.environment_state'] = { shape: [18], data: arrays.keypoint.data };
    features['observation.state'] = { shape: [2], data: takeColumns(arrays.state, [0, 1]) };
    features.action = arrays.action;
    features.sim_state = arrays.state;
    for (const [name, f] of Object.entries(arrays)) {
      if (!['keypoint', 'state', 'action'].includes(name)) features[name === 'img' ? 'observation.image' : name] = f;
    }
  } else {
    for (const [name, f] of Object.entries(arrays)) {
      const mapped = name === 'obs' ? 'observation.state' : name === 'img' ? 'observation.image' : name;
      features[mapped] = f;
    }
  }
  return new EpisodeDataset(features, episodeEnds, {
    source: path,
    format: 'diffusion-policy-zarr',
    fps: options.fps ?? 10,
    task: isPushT ? 'pusht' : undefined,
  });
}

function sameShape(a: number[] | undefined, b: number[]): boolean {
  return !!a && a.length === b.length && a.every((d, i) => d === b[i]);
}

function takeColumns(f: Feature, cols: number[]): Float32Array {
  const width = f.shape.reduce((x, y) => x * y, 1);
  const rows = f.data.length / width;
  const out = new Float32Array(rows * cols.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols.length; c++) out[r * cols.length + c] = f.data[r * width + cols[c]];
  return out;
}
