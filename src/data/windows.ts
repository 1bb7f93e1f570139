import { InputError } from '../core/errors.js';
import type { EpisodeDataset } from './episode-dataset.js';
import type { Normalizer } from './normalizer.js';

/**
 * Training windows: for a window starting at frame s of an episode of L
 * frames, the observation is frames s .. s+To-1 and the action chunk frames
 * s .. s+Tp-1, frame indices clamped to [0, L-1] so the edges repeat (as
 * Diffusion Policy pads). Starts run from -padBefore to L - Tp + padAfter,
 * Diffusion Policy's defaults being padBefore = To - 1, padAfter = Ta - 1:
 * every executed step of every episode is covered, with its To - 1 past
 * observations.
 */
export interface WindowSpec {
  obsKeys: string[];
  /** null: observation windows only (a recording whose actions are not wanted, or absent). */
  actionKey: string | null;
  obsHorizon: number;
  predHorizon: number;
  padBefore: number;
  padAfter: number;
}

export class WindowSampler {
  /** Episode of each window. */
  private readonly episode: Int32Array;
  /** Start frame of each window, relative to its episode (may be negative). */
  private readonly start: Int32Array;
  readonly obsDim: number;
  readonly actionDim: number;

  constructor(
    readonly dataset: EpisodeDataset,
    readonly spec: WindowSpec,
    episodes: readonly number[],
  ) {
    if (spec.obsHorizon > spec.predHorizon) {
      throw new InputError('obsHorizon', spec.obsHorizon, `at most the prediction horizon (${spec.predHorizon})`);
    }
    this.obsDim = spec.obsKeys.reduce((n, k) => n + dataset.featureSize(k), 0);
    this.actionDim = spec.actionKey === null ? 0 : dataset.featureSize(spec.actionKey);
    const eps: number[] = [];
    const starts: number[] = [];
    for (const e of episodes) {
      const [a, b] = dataset.episodeRange(e);
      const len = b - a;
      for (let s = -spec.padBefore; s <= len - spec.predHorizon + spec.padAfter; s++) {
        eps.push(e);
        starts.push(s);
      }
    }
    this.episode = Int32Array.from(eps);
    this.start = Int32Array.from(starts);
  }

  get length(): number {
    return this.start.length;
  }

  /**
   * Copy windows `indices` into `obs` ([B, To * obsDim], features of a frame
   * in obsKeys order) and `actions` ([B, Tp * actionDim]; null for the
   * observations only, which a spec without an action key requires);
   * normalised per feature when a normalizer is given, raw otherwise.
   */
  fill(indices: ArrayLike<number>, obs: Float32Array, actions: Float32Array | null, normalizer?: Normalizer): void {
    const { obsKeys, actionKey, obsHorizon: to, predHorizon: tp } = this.spec;
    if (actions && actionKey === null) throw new RangeError('WindowSampler.fill: actions asked of an observations-only sampler (actionKey null)');
    const feats = obsKeys.map((k) => this.dataset.feature(k));
    const sizes = obsKeys.map((k) => this.dataset.featureSize(k));
    const act = actions && actionKey !== null ? { key: actionKey, data: this.dataset.feature(actionKey).data, out: actions } : null;
    const ad = this.actionDim;
    for (let b = 0; b < indices.length; b++) {
      const w = indices[b];
      const [first, end] = this.dataset.episodeRange(this.episode[w]);
      const last = end - 1;
      const s = this.start[w];
      let o = b * to * this.obsDim;
      for (let i = 0; i < to; i++) {
        const f = Math.min(Math.max(first + s + i, first), last);
        for (let k = 0; k < feats.length; k++) {
          const n = sizes[k];
          obs.set(feats[k].data.subarray(f * n, f * n + n), o);
          if (normalizer) normalizer.normalize(obsKeys[k], obs.subarray(o, o + n), obs.subarray(o, o + n));
          o += n;
        }
      }
      if (!act) continue;
      for (let i = 0; i < tp; i++) {
        const f = Math.min(Math.max(first + s + i, first), last);
        act.out.set(act.data.subarray(f * ad, f * ad + ad), (b * tp + i) * ad);
      }
      if (normalizer) {
        const row = act.out.subarray(b * tp * ad, (b + 1) * tp * ad);
        normalizer.normalize(act.key, row, row);
      }
    }
  }
}
