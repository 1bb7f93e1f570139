import { InputError } from '../core/errors.js';
import type { Normalizer } from '../data/normalizer.js';
import { frameSizeOf } from './config.js';
import type { FeatureSpec, ObservationFrame } from './policy.js';

/**
 * The last To observation frames of an episode in pre-allocated slots:
 * validated and packed on the way in (errors name the frame, the feature
 * and the entry), and normalised into the conditioning vector [To x
 * features], oldest first. Once built it allocates nothing, so the
 * real-time student's act() stays allocation-free.
 */
export class ObservationHistory {
  readonly frameSize: number;
  private readonly slots: Float32Array[];
  /** Per slot, per feature: the feature's view in that slot. */
  private readonly views: Float32Array[][];
  private readonly sizes: number[];
  private head = 0;
  private filled = false;

  constructor(
    readonly features: readonly FeatureSpec[],
    readonly horizon: number,
  ) {
    this.frameSize = frameSizeOf(features);
    this.sizes = features.map((f) => frameSizeOf([f]));
    this.slots = Array.from({ length: horizon }, () => new Float32Array(this.frameSize));
    this.views = this.slots.map((slot) => {
      let o = 0;
      return this.sizes.map((n) => {
        const v = slot.subarray(o, o + n);
        o += n;
        return v;
      });
    });
  }

  reset(): void {
    this.filled = false;
    this.head = 0;
  }

  private static where(index: number): string {
    return index < 0 ? 'observation' : `observation[${index}]`;
  }

  /** `index`: the frame's position in an array given to push(), or -1 for a single frame (names it in errors; no string is built unless one is thrown). */
  private packInto(frame: ObservationFrame, slot: number, index: number): void {
    if (typeof frame !== 'object' || frame === null) throw new InputError(ObservationHistory.where(index), frame, `an object with features ${this.features.map((f) => f.key).join(', ')}`);
    const views = this.views[slot];
    for (let k = 0; k < this.features.length; k++) {
      const f = this.features[k];
      const n = this.sizes[k];
      const v = frame[f.key];
      if (v === undefined || v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number' || v.length !== n) {
        throw new InputError(`${ObservationHistory.where(index)}["${f.key}"]`, v, `an array of ${n} finite numbers (shape [${f.shape}])`);
      }
      const out = views[k];
      for (let i = 0; i < n; i++) {
        const x = v[i];
        if (typeof x !== 'number' || !Number.isFinite(x)) throw new InputError(`${ObservationHistory.where(index)}["${f.key}"][${i}]`, x, 'a finite number');
        out[i] = x;
      }
    }
  }

  /** Take one new frame (the first of an episode fills every slot), or exactly `horizon` frames, oldest first. */
  push(observation: ObservationFrame | readonly ObservationFrame[]): void {
    if (Array.isArray(observation)) {
      if (observation.length !== this.horizon) {
        throw new InputError('observation', observation, `one frame, or an array of exactly ${this.horizon} frames (the observation horizon)`);
      }
      for (let i = 0; i < this.horizon; i++) this.packInto(observation[i] as ObservationFrame, i, i);
      this.head = 0;
      this.filled = true;
      return;
    }
    if (!this.filled) {
      this.packInto(observation as ObservationFrame, 0, -1);
      for (let i = 1; i < this.horizon; i++) this.slots[i].set(this.slots[0]);
      this.head = 0;
      this.filled = true;
      return;
    }
    // head is the oldest slot; the new frame overwrites it and becomes the newest.
    this.packInto(observation as ObservationFrame, this.head, -1);
    this.head = (this.head + 1) % this.horizon;
  }

  /** The normalised conditioning vector [To x frame], oldest frame first, into `out` (pass `viewsOf(out)`, made once, to allocate nothing). */
  condition(normalizer: Normalizer, out: Float32Array = new Float32Array(this.horizon * this.frameSize), outViews = this.viewsOf(out)): Float32Array {
    if (!this.filled) throw new Error('no observation yet: call push() first');
    for (let t = 0; t < this.horizon; t++) {
      const slot = this.views[(this.head + t) % this.horizon];
      const dst = outViews[t];
      for (let k = 0; k < this.features.length; k++) normalizer.normalize(this.features[k].key, slot[k], dst[k]);
    }
    return out;
  }

  /** Per frame position, per feature: the views of a conditioning vector that condition() writes through. */
  viewsOf(out: Float32Array): Float32Array[][] {
    let o = 0;
    return Array.from({ length: this.horizon }, () =>
      this.sizes.map((n) => {
        const v = out.subarray(o, o + n);
        o += n;
        return v;
      }),
    );
  }
}
