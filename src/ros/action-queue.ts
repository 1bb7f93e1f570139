import { InputError } from '../core/errors.js';

/**
 * The timestamped action queue between asynchronous inference and the
 * fixed-rate control loop. Time is counted in control ticks (tick k runs at
 * t0 + k / rate). A chunk from the policy arrives some ticks after the
 * observation it was computed from; its rows are placed at the ticks they
 * were meant for, rows whose tick has passed are dropped, and the rest
 * merge with what is queued according to the merge mode:
 *
 * - `latest`: the new chunk replaces everything queued from its arrival on.
 * - `blend`: where old and new overlap, `weight * new + (1 - weight) * old`;
 *   the new chunk's horizon ends the queue.
 * - `ensemble` (temporal ensembling, ACT): every prediction made for a tick
 *   is kept and the executed action is their weighted mean with
 *   `w_i = exp(-m i)`, i = 0 the oldest prediction (ACT's convention: older
 *   predictions weigh more for m > 0).
 * - `rtc` (real-time chunking): the actions that run before the new chunk
 *   can arrive are frozen. The delay is measured in ticks (arrival -
 *   request) on every chunk; at a request the expected delay is the largest
 *   of the last few measured. Ticks in [request, request + expected delay)
 *   keep the old actions even if the chunk comes early; after them the new
 *   chunk takes over, cross-faded linearly over `blendTicks` ticks.
 */

export type MergeMode =
  | { mode: 'latest' }
  | { mode: 'blend'; weight: number }
  | { mode: 'ensemble'; m: number }
  | { mode: 'rtc'; blendTicks: number };

/** A chunk placed in time. */
export interface TimedChunk {
  /** Tick of rows[0] (the observation's tick: row `start` of the policy's chunk). */
  firstTick: number;
  /** Control ticks between consecutive rows (control rate / action rate; may be fractional: rows are interpolated). */
  rowTicks: number;
  /** Rows from the one for `firstTick` on, each of the action dimension. */
  rows: ArrayLike<number>[];
  /** Tick at which inference was requested (its observation's tick). */
  requestTick: number;
  /** Tick at which the chunk was added to the queue. */
  arrivalTick: number;
}

interface Slot {
  value: Float64Array;
  /** ensemble: running weighted sum and weight total, and the number of predictions. */
  sum?: Float64Array;
  wsum?: number;
  n: number;
}

/** How many recent delays the rtc estimate looks at. */
const DELAY_WINDOW = 8;

export class ActionQueue {
  private slots = new Map<number, Slot>();
  private delays: number[] = [];
  /** Number of chunks merged. */
  chunks = 0;
  /** Rows dropped because their tick had passed when their chunk arrived. */
  droppedLate = 0;

  constructor(
    readonly dim: number,
    readonly merge: MergeMode,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new InputError('dim', dim, 'a positive integer');
    if (merge.mode === 'blend' && !(merge.weight >= 0 && merge.weight <= 1)) throw new InputError('merge.weight', merge.weight, 'a number in [0, 1]');
    if (merge.mode === 'ensemble' && !Number.isFinite(merge.m)) throw new InputError('merge.m', merge.m, 'a finite number');
    if (merge.mode === 'rtc' && !(Number.isInteger(merge.blendTicks) && merge.blendTicks >= 0)) {
      throw new InputError('merge.blendTicks', merge.blendTicks, 'an integer >= 0');
    }
  }

  /** Expected inference delay in ticks: the largest of the last few measured (0 before any). */
  get expectedDelayTicks(): number {
    return this.delays.length ? Math.max(...this.delays) : 0;
  }

  /** The last measured delay in ticks, or undefined before the first chunk. */
  get lastDelayTicks(): number | undefined {
    return this.delays[this.delays.length - 1];
  }

  /** Number of consecutive queued ticks from `tick` on. */
  depth(tick: number): number {
    let n = 0;
    while (this.slots.has(tick + n)) n++;
    return n;
  }

  /** Queued tick numbers, ascending (for inspection and tests). */
  ticks(): number[] {
    return [...this.slots.keys()].sort((a, b) => a - b);
  }

  clear(): void {
    this.slots.clear();
  }

  /** The action for `tick` (undefined when none is queued); drops everything before it. */
  take(tick: number): Float64Array | undefined {
    this.dropBefore(tick);
    const slot = this.slots.get(tick);
    if (!slot) return undefined;
    this.slots.delete(tick);
    return slot.value;
  }

  /** The actions queued for ticks tick..tick+n-1, stopping at the first gap; nothing is removed. */
  peek(tick: number, n: number): Float64Array[] {
    const out: Float64Array[] = [];
    for (let i = 0; i < n; i++) {
      const slot = this.slots.get(tick + i);
      if (!slot) break;
      out.push(slot.value);
    }
    return out;
  }

  /** Merge a chunk. Returns the number of ticks it wrote. */
  add(chunk: TimedChunk): number {
    const { firstTick, rowTicks, rows, requestTick, arrivalTick } = chunk;
    if (!(rowTicks > 0)) throw new InputError('rowTicks', rowTicks, 'a positive number');
    if (!(arrivalTick >= requestTick)) throw new InputError('arrivalTick', arrivalTick, `a tick >= requestTick (${requestTick})`);
    for (const [i, r] of rows.entries()) {
      if (r.length !== this.dim) throw new InputError(`rows[${i}]`, r, `${this.dim} values`);
    }
    this.dropBefore(arrivalTick);
    const expected = this.expectedDelayTicks;
    this.delays.push(arrivalTick - requestTick);
    if (this.delays.length > DELAY_WINDOW) this.delays.shift();
    this.chunks++;
    if (rows.length === 0) return 0;

    const lastTick = firstTick + (rows.length - 1) * rowTicks;
    const from = Math.ceil(firstTick - 1e-9);
    const to = Math.floor(lastTick + 1e-9);
    this.droppedLate += Math.max(0, Math.min(to + 1, arrivalTick) - from);
    const start = Math.max(from, arrivalTick);

    // Where the new chunk starts to count, and what of the old queue survives past its end.
    let takeover = start;
    if (this.merge.mode === 'rtc') takeover = Math.max(start, requestTick + expected);
    if (this.merge.mode !== 'ensemble') {
      for (const t of [...this.slots.keys()]) if (t > to) this.slots.delete(t);
    }

    let written = 0;
    for (let t = start; t <= to; t++) {
      const value = this.interpolate(rows, (t - firstTick) / rowTicks);
      const old = this.slots.get(t);
      switch (this.merge.mode) {
        case 'latest':
          this.slots.set(t, { value, n: 1 });
          break;
        case 'blend': {
          if (old) {
            const w = this.merge.weight;
            for (let d = 0; d < this.dim; d++) value[d] = w * value[d] + (1 - w) * old.value[d];
          }
          this.slots.set(t, { value, n: (old?.n ?? 0) + 1 });
          break;
        }
        case 'ensemble': {
          const n = old?.n ?? 0;
          const w = Math.exp(-this.merge.m * n);
          const sum = old?.sum ?? new Float64Array(this.dim);
          for (let d = 0; d < this.dim; d++) sum[d] += w * value[d];
          const wsum = (old?.wsum ?? 0) + w;
          const mean = new Float64Array(this.dim);
          for (let d = 0; d < this.dim; d++) mean[d] = sum[d] / wsum;
          this.slots.set(t, { value: mean, sum, wsum, n: n + 1 });
          break;
        }
        case 'rtc': {
          if (old && t < takeover) continue; // frozen: it runs before the new chunk could have taken over
          const k = t - takeover;
          if (old && k < this.merge.blendTicks) {
            const w = (k + 1) / (this.merge.blendTicks + 1);
            for (let d = 0; d < this.dim; d++) value[d] = w * value[d] + (1 - w) * old.value[d];
          }
          this.slots.set(t, { value, n: (old?.n ?? 0) + 1 });
          break;
        }
      }
      written++;
    }
    return written;
  }

  private interpolate(rows: ArrayLike<number>[], pos: number): Float64Array {
    const out = new Float64Array(this.dim);
    const j = Math.min(Math.floor(pos + 1e-9), rows.length - 1);
    const frac = Math.max(0, pos - j);
    const a = rows[j];
    const b = rows[Math.min(j + 1, rows.length - 1)];
    for (let d = 0; d < this.dim; d++) out[d] = frac < 1e-9 ? a[d] : a[d] + (b[d] - a[d]) * frac;
    return out;
  }

  private dropBefore(tick: number): void {
    for (const t of this.slots.keys()) if (t < tick) this.slots.delete(t);
  }
}
