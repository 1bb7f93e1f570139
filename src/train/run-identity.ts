import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';

/** A training run's settings as its identity records them: any JSON value with the dataset's location. */
interface LocatedRun {
  dataset: { path: string };
}

/**
 * sha256 of what a training run reads from its dataset: the episode ends,
 * then each of `keys` in order (its name, frame shape and every frame's
 * float32 values, hashed in place: the bytes as they lie in memory, which
 * is little-endian wherever Node and browsers run). Two copies of a dataset
 * at different paths agree; another recording, or the same one with a
 * value changed, does not.
 */
export function datasetDigest(dataset: EpisodeDataset, keys: readonly string[]): string {
  const h = sha256.create();
  const bytes = (a: Float32Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  h.update(bytes(dataset.episodeEnds));
  for (const key of keys) {
    const f = dataset.feature(key);
    h.update(new TextEncoder().encode(JSON.stringify([key, f.shape])));
    h.update(bytes(f.data));
  }
  return bytesToHex(h.digest());
}

/**
 * What a resumed training run must match, as canonical JSON: its settings
 * (as the trainer passes them: the flow trainer leaves train.steps out, which
 * a resume may raise) without the dataset's path, plus the digest of what
 * the run reads there. A run folder moved together with its dataset
 * therefore resumes from the dataset's new path, and another dataset at the
 * old path is refused.
 */
export function trainIdentity(run: LocatedRun, digest: string): string {
  return JSON.stringify({ ...run, dataset: { ...run.dataset, path: undefined }, datasetDigest: digest });
}

/**
 * The identity a resumed run's state recorded, when it is `run`'s: the
 * current form, or the form of versions before trainIdentity (the settings
 * with the path, no digest), which such runs keep so that they still resume
 * in place. Null for another run.
 */
export function matchedIdentity(recorded: string, run: LocatedRun, digest: string): string | null {
  const current = trainIdentity(run, digest);
  if (recorded === current) return current;
  return recorded === JSON.stringify(run) ? recorded : null;
}
