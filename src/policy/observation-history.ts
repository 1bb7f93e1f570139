import { InputError } from '../core/errors.js';
import type { Normalizer } from '../data/normalizer.js';
import type { FeatureSpec, ObservationFrame } from './policy.js';
import { frameSizeOf } from './config.js';

/**
 * The last To observation frames of an episode, validated on the way in and
 * flattened, normalised, into the conditioning vector [To x features].
 */
export class ObservationHistory {
  private frames: Float32Array[] = [];
  readonly frameSize: number;

  constructor(
    readonly features: readonly FeatureSpec[],
    readonly horizon: number,
  ) {
    this.frameSize = frameSizeOf(features);
  }

  reset(): void {
    this.frames = [];
  }

  /** Validate one frame and pack its features, in spec order, into one vector. */
  pack(frame: ObservationFrame, where = 'observation'): Float32Array {
    if (typeof frame !== 'object' || frame === null) throw new InputError(where, frame, `an object with features ${this.features.map((f) => f.key).join(', ')}`);
    const out = new Float32Array(this.frameSize);
    let o = 0;
    for (const f of this.features) {
      const n = frameSizeOf([f]);
      const v = frame[f.key];
      const expected = `an array of ${n} finite numbers (shape [${f.shape}])`;
      if (v === undefined || v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number') {
        throw new InputError(`${where}["${f.key}"]`, v, expected);
      }
      if (v.length !== n) throw new InputError(`${where}["${f.key}"]`, v, expected);
      for (let i = 0; i < n; i++) {
        const x = v[i];
        if (typeof x !== 'number' || !Number.isFinite(x)) throw new InputError(`${where}["${f.key}"][${i}]`, x, 'a finite number');
        out[o + i] = x;
      }
      o += n;
    }
    return out;
  }

  /** Take one new frame, or replace the history by exactly `horizon` frames. */
  push(observation: ObservationFrame | readonly ObservationFrame[]): void {
    if (Array.isArray(observation)) {
      if (observation.length !== this.horizon) {
        throw new InputError('observation', observation, `one frame, or an array of exactly ${this.horizon} frames (the observation horizon)`);
      }
      this.frames = observation.map((f, i) => this.pack(f, `observation[${i}]`));
      return;
    }
    const packed = this.pack(observation as ObservationFrame);
    if (this.frames.length === 0) this.frames = Array.from({ length: this.horizon }, () => packed);
    else this.frames = [...this.frames.slice(1), packed];
  }

  /** The conditioning vector: frames oldest first, each feature normalised. */
  condition(normalizer: Normalizer, out = new Float32Array(this.horizon * this.frameSize)): Float32Array {
    if (this.frames.length !== this.horizon) throw new Error('no observation yet: call push() first');
    let o = 0;
    for (const frame of this.frames) {
      let i = 0;
      for (const f of this.features) {
        const n = frameSizeOf([f]);
        normalizer.normalize(f.key, frame.subarray(i, i + n), out.subarray(o, o + n));
        o += n;
        i += n;
      }
    }
    return out;
  }
}
