import { digestOf } from '../core/digest.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';

/**
 * sha256 of what a training run reads from its dataset: the digest of the
 * episode ends, then, for each of `keys` in order, its name, frame shape and
 * the digest of its frames' float32 values. Two copies of a dataset at
 * different paths agree; another recording, or the same one with a value
 * changed, does not.
 */
export function datasetDigest(dataset: EpisodeDataset, keys: readonly string[]): string {
  const features = keys.map((key) => {
    const f = dataset.feature(key);
    return [key, f.shape, digestOf(f.data)];
  });
  return digestOf(new TextEncoder().encode(JSON.stringify([digestOf(dataset.episodeEnds), features])));
}

/**
 * What a resumed training run must match, as canonical JSON: its settings
 * (as the trainer passes them: the flow trainer leaves train.steps out, which
 * a resume may raise) without the dataset's path, plus the digest of what
 * the run reads there. A run folder moved together with its dataset
 * therefore resumes from the dataset's new path, and another dataset at the
 * old path is refused.
 */
export function trainIdentity(run: { dataset: { path: string } }, digest: string): string {
  return JSON.stringify({ ...run, dataset: { ...run.dataset, path: undefined }, datasetDigest: digest });
}

/**
 * Whether the identity a resumed run's state recorded is this run's: the
 * `current` form, or the `earlier` one that versions before the identities
 * left input paths out wrote (with the paths, without their contents'
 * digests), so that such runs still resume in place.
 */
export function isSameRun(recorded: string, current: string, earlier: string): boolean {
  return recorded === current || recorded === earlier;
}
