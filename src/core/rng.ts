/**
 * Seeded random numbers, passed explicitly to everything that draws
 * (weight init, noise, batches, time samples), so a run with the same seed
 * gives the same numbers on every backend: no draw goes through tfjs's own
 * generator.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 128-bit state, seeded through
 * splitmix32. Its whole state can be saved and restored for resumable runs.
 */
export interface RngState {
  s: [number, number, number, number];
  /** The second Box–Muller value, kept for the next normal() call. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  // [spare normal, u1, u2] in a typed array plus a flag: doubles stored in object fields are boxed (an allocation per draw).
  private readonly spareBox = new Float64Array(3);
  private hasSpare = false;

  /** `seed` may be any finite number; integers up to 2^53 are distinct seeds. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    const hi = Math.floor(seed / TWO_POW_32);
    const mixHi = splitmix32(hi ^ 0x5bd1e995);
    const mix = splitmix32((seed >>> 0) ^ mixHi());
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  getState(): RngState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spare: this.hasSpare ? this.spareBox[0] : null };
  }

  setState(state: RngState): void {
    [this.s0, this.s1, this.s2, this.s3] = state.s.map((v) => v >>> 0) as [number, number, number, number];
    this.hasSpare = state.spare !== null;
    this.spareBox[0] = state.spare ?? 0;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    return this.next(0);
  }

  /**
   * The next 32-bit output shifted right by `shift` bits. uniform() takes
   * its bits through here: shifted by 5 or 6, they fit a small integer,
   * where a whole uint32 returned from a call that V8 does not inline is a
   * boxed double (an allocation per draw on act()'s path).
   */
  private next(shift: number): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> shift;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.next(5);
    const b = this.next(6);
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /**
   * Fill `out` with uniform() draws (the same values, in order) and return
   * it. uniform() written out: the double is made here and stored, never
   * returned from a call (which, not inlined, would box it).
   */
  fillUniform<T extends Float32Array | Float64Array>(out: T): T {
    for (let i = 0; i < out.length; i++) out[i] = (this.next(5) * 67108864 + this.next(6)) / TWO_POW_53;
    return out;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32 && Number.isInteger(n))) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Standard normal N(0, 1) by the Box–Muller transform. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareBox[0];
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spareBox[0] = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }

  /** Fill `out` with N(0, 1) draws and return it. */
  fillNormal<T extends Float32Array | Float64Array>(out: T): T {
    // normal() written out, drawing u1 and u2 from one uniform() call site so V8 inlines it: the same
    // draws, and no boxed double per value (StudentPolicy.act() allocates nothing in steady state).
    const box = this.spareBox;
    for (let i = 0; i < out.length; i++) {
      if (this.hasSpare) {
        this.hasSpare = false;
        out[i] = box[0];
        continue;
      }
      for (let k = 1; k < 3; k++) box[k] = this.uniform();
      const r = Math.sqrt(-2 * Math.log(1 - box[1]));
      const theta = 2 * Math.PI * box[2];
      box[0] = r * Math.sin(theta);
      this.hasSpare = true;
      out[i] = r * Math.cos(theta);
    }
    return out;
  }

  /** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 through the boost Gamma(k+1) U^(1/k). */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`Rng.gamma: shape must be > 0, got ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): typeof items {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /** An independent generator derived from this one (advances this one by four draws). */
  fork(): Rng {
    const child = new Rng(0);
    child.setState({ s: [this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32() | 1], spare: null });
    return child;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
