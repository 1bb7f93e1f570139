import { InputError } from '../core/errors.js';

/** One named per-frame feature: `shape` per frame, values of all frames back to back. */
export interface Feature {
  shape: number[];
  data: Float32Array;
}

export interface DatasetInfo {
  /** Where it was read from. */
  source: string;
  /** The format read (e.g. 'diffusion-policy-zarr'). */
  format: string;
  /** Frames per second of the recording. */
  fps: number;
  /** Free-form task name, if known (e.g. 'pusht'). */
  task?: string;
}

/**
 * A set of episodes of frames, each frame holding named features with
 * LeRobot's names (`observation.state`, `observation.environment_state`,
 * `action`, ...). Frames of all episodes are stored back to back;
 * `episodeEnds[e]` is the exclusive end frame of episode e.
 */
export class EpisodeDataset {
  readonly numFrames: number;

  constructor(
    readonly features: Readonly<Record<string, Feature>>,
    readonly episodeEnds: Int32Array,
    readonly info: DatasetInfo,
  ) {
    this.numFrames = episodeEnds.length === 0 ? 0 : episodeEnds[episodeEnds.length - 1];
    let prev = 0;
    for (let e = 0; e < episodeEnds.length; e++) {
      if (episodeEnds[e] <= prev) {
        throw new InputError(`episode_ends[${e}]`, episodeEnds[e], `an end index greater than ${prev} (episodes must be non-empty and in order)`, info.source);
      }
      prev = episodeEnds[e];
    }
    for (const [name, f] of Object.entries(features)) {
      const per = frameSize(f.shape);
      if (f.data.length !== per * this.numFrames) {
        throw new InputError(`${name}`, f.data, `${this.numFrames} frames of shape [${f.shape}] (${per * this.numFrames} values)`, info.source);
      }
    }
  }

  get numEpisodes(): number {
    return this.episodeEnds.length;
  }

  /** [start, end) frame range of episode e. */
  episodeRange(e: number): [number, number] {
    if (!(e >= 0 && e < this.episodeEnds.length)) throw new RangeError(`episode ${e} out of range [0, ${this.episodeEnds.length})`);
    return [e === 0 ? 0 : this.episodeEnds[e - 1], this.episodeEnds[e]];
  }

  feature(name: string): Feature {
    const f = this.features[name];
    if (!f) throw new InputError('feature', name, `one of ${Object.keys(this.features).join(', ')}`, this.info.source);
    return f;
  }

  /** Number of values per frame of a feature. */
  featureSize(name: string): number {
    return frameSize(this.feature(name).shape);
  }

  /** The values of one frame of a feature (a view, not a copy). */
  frame(name: string, index: number): Float32Array {
    const f = this.feature(name);
    const n = frameSize(f.shape);
    return f.data.subarray(index * n, index * n + n);
  }

  /** Episode index of every frame (LeRobot's `episode_index`). */
  episodeIndex(): Int32Array {
    const out = new Int32Array(this.numFrames);
    for (let e = 0; e < this.numEpisodes; e++) out.fill(e, ...this.episodeRange(e));
    return out;
  }
}

export function frameSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
