import { Rng } from '../../src/core/rng.js';
import { EpisodeDataset } from '../../src/data/episode-dataset.js';

/**
 * A 2-D conditional distribution with known samples: the condition is an
 * angle phi (given to the policy as [cos phi, sin phi]); the "action" is
 * drawn from Gaussians of std `std` on a ring of radius `radius`, at angles
 * phi + offsets (equal weights). Conditional samples are tight blobs; the
 * marginal over phi is a smeared ring, so a model that ignores the
 * condition is visibly wrong. The offsets are not symmetric, so the
 * distribution changes with phi at the condition's own frequency.
 */
export const RING = { offsets: [0, 2.2], radius: 2, std: 0.15 };

export function ringSample(phi: number, rng: Rng, out: Float32Array, offset = 0): void {
  const a = phi + RING.offsets[rng.int(RING.offsets.length)];
  out[offset] = RING.radius * Math.cos(a) + RING.std * rng.normal();
  out[offset + 1] = RING.radius * Math.sin(a) + RING.std * rng.normal();
}

export function ringSamples(phi: number, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) ringSample(phi, rng, out, 2 * i);
  return out;
}

/** Episodes of (condition, action) frames; `blindCondition` zeroes the condition (the unconditional control). */
export function ringDataset(options: { episodes: number; frames: number; seed: number; blindCondition?: boolean }): EpisodeDataset {
  const rng = new Rng(options.seed);
  const n = options.episodes * options.frames;
  const cond = new Float32Array(2 * n);
  const action = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const phi = 2 * Math.PI * rng.uniform();
    if (!options.blindCondition) {
      cond[2 * i] = Math.cos(phi);
      cond[2 * i + 1] = Math.sin(phi);
    }
    ringSample(phi, rng, action, 2 * i);
  }
  const ends = Int32Array.from({ length: options.episodes }, (_, e) => (e + 1) * options.frames);
  return new EpisodeDataset(
    { 'observation.state': { shape: [2], data: cond }, action: { shape: [2], data: action } },
    ends,
    { source: 'ring (synthetic)', format: 'memory', fps: 10 },
  );
}

/** The run config both ring tests train with: a small MLP, a few thousand steps. */
export function ringRunConfig(): import('../../src/train/config.js').RunConfigInput {
  return {
    dataset: { path: 'ring (synthetic)', obsKeys: ['observation.state'], actionKey: 'action', valRatio: 0.125, maxTrainEpisodes: null },
    policy: { obsHorizon: 1, predHorizon: 1, actionHorizon: 1, net: { kind: 'mlp', hidden: 96, layers: 3, timeEmbedDim: 16 }, inference: { method: 'rk4', steps: 8 } },
    train: { steps: 2500, batchSize: 256, lr: 3e-3, warmupSteps: 50, logEvery: 100, evalEvery: 500, saveEvery: 2500, seed: 1 },
  };
}
