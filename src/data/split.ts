import { Rng } from '../core/rng.js';

export interface SplitOptions {
  /** Fraction of episodes held out for validation (Diffusion Policy: 0.02). */
  valRatio: number;
  /** Keep at most this many training episodes, drawn at random (Diffusion Policy's Push-T: 90). */
  maxTrainEpisodes?: number | null;
  seed: number;
}

/**
 * Train/validation split by whole episodes, so no validation frame shares an
 * episode with a training frame. As Diffusion Policy: at least one
 * validation episode when valRatio > 0, and always at least one training
 * episode; the training set is then subsampled to maxTrainEpisodes.
 */
export function splitEpisodes(numEpisodes: number, options: SplitOptions): { train: number[]; val: number[] } {
  const rng = new Rng(options.seed);
  const order = Array.from(rng.permutation(numEpisodes));
  let nVal = options.valRatio > 0 ? Math.max(1, Math.round(numEpisodes * options.valRatio)) : 0;
  nVal = Math.min(nVal, numEpisodes - 1);
  const val = order.slice(0, nVal).sort((a, b) => a - b);
  let train = order.slice(nVal);
  if (options.maxTrainEpisodes != null && train.length > options.maxTrainEpisodes) train = train.slice(0, options.maxTrainEpisodes);
  return { train: train.sort((a, b) => a - b), val };
}
