/**
 * Order statistics used in reports. One definition: the linear-interpolated
 * quantile numpy uses by default, q in [0, 1]; NaN for no values.
 */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function quantile(values: ArrayLike<number>, q: number): number {
  return quantileOfSorted(Float64Array.from(values).sort(), q);
}

export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

/**
 * The last `capacity` samples of a quantity measured on every tick of a
 * long-running loop (tick lateness, inference latency), in a fixed ring,
 * plus the maximum over all of them: memory and the cost of a report stay
 * bounded however long a deployment runs.
 */
export class RecentSamples {
  private readonly ring: Float64Array;
  private count = 0;
  private maxSeen = -Infinity;

  constructor(capacity = 65_536) {
    this.ring = new Float64Array(capacity);
  }

  push(value: number): void {
    this.ring[this.count % this.ring.length] = value;
    this.count++;
    if (value > this.maxSeen) this.maxSeen = value;
  }

  /** Samples taken in all (the window holds the last `capacity`). */
  get total(): number {
    return this.count;
  }

  /** Quantile over the window; null before the first sample. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    return quantile(this.ring.subarray(0, Math.min(this.count, this.ring.length)), q);
  }

  /** Largest sample ever taken; null before the first. */
  get max(): number | null {
    return this.count === 0 ? null : this.maxSeen;
  }
}
