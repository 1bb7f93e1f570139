/**
 * A bit-exact re-implementation of the parts of `numpy.random.RandomState`
 * (numpy's *legacy* generator) that the original Push-T reset draws from:
 * `RandomState(seed)`, `randint(low, high)`, `random_sample()` and `randn()`.
 *
 * Why exact: Diffusion Policy evaluates on seeds 100000 and up, and the
 * paper's numbers are for the initial states those seeds give. Reproducing
 * them bit for bit is the only way our evaluation runs on the same start
 * states as the original.
 *
 * Facts this module relies on (checked against numpy 1.24 and 2.4):
 * - An integer seed in [0, 2^32) seeds MT19937 with the reference
 *   `init_genrand` recurrence `mt[0] = seed`,
 *   `mt[i] = 1812433253 * (mt[i-1] ^ (mt[i-1] >>> 30)) + i  (mod 2^32)`.
 *   It does NOT go through `init_by_array` (that path is only for array
 *   seeds): `RandomState(s).get_state()[1][:3]` equals the recurrence above.
 * - `randint(low, high)` with the default dtype (int64 on Linux) draws from
 *   `[low, high)` by *masked rejection*: with `rng = high - 1 - low` and
 *   `mask` the smallest `2^k - 1 >= rng`, it draws `v = next & mask` until
 *   `v <= rng`, and returns `low + v`. `next` is one 32-bit MT output when
 *   `rng <= 0xFFFFFFFF` (so the Push-T ranges use 32-bit draws), and a 64-bit
 *   value `(first << 32) | second` otherwise. `rng == 0xFFFFFFFF` takes the
 *   32-bit output unmasked, `rng == 0` returns `low` without drawing.
 *   Lemire's method is never used by the legacy generator.
 * - `random_sample()` is the 53-bit double
 *   `((a >>> 5) * 2^26 + (b >>> 6)) / 2^53` from two 32-bit outputs a, b.
 * - `randn()` is the legacy polar Box–Muller `gauss`: draw
 *   `x1 = 2u1 - 1, x2 = 2u2 - 1` until `0 < r2 = x1^2 + x2^2 < 1`, set
 *   `f = sqrt(-2 ln(r2) / r2)` (ln correctly rounded, as glibc's; see
 *   exact-log.ts), return `f x2` and cache `f x1` for the next
 *   call. The cache is part of the generator state.
 */

import { exactLog } from './exact-log.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** MT19937 as numpy's legacy `RandomState` seeds and runs it. */
export class MT19937 {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed = ${seed}, expected an integer in [0, 2^32 - 1] (numpy's legacy RandomState range)`);
    }
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1];
      this.mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.pos = N;
  }

  /** The 624 state words and the position, as numpy's `get_state()` shows them. */
  state(): { key: Uint32Array; pos: number } {
    return { key: this.mt.slice(), pos: this.pos };
  }

  /** One tempered 32-bit output, an unsigned integer. */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
      mt[i] = (mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.pos = 0;
  }
}

/** The legacy `numpy.random.RandomState`, for the draws Push-T needs. */
export class NumpyRandomState {
  private readonly mt: MT19937;
  private hasGauss = false;
  private gauss = 0;

  constructor(seed: number) {
    this.mt = new MT19937(seed);
  }

  /** Raw 32-bit output of the underlying MT19937 (numpy's `next_uint32`). */
  nextUint32(): number {
    return this.mt.nextUint32();
  }

  /** `random_sample()`: a double in [0, 1) with 53 random bits. */
  randomSample(): number {
    const a = this.mt.nextUint32() >>> 5;
    const b = this.mt.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * `randint(low, high)`: an integer in [low, high) by numpy's legacy
   * masked rejection (see the module comment). Bounds must be safe integers;
   * results beyond 2^53 are not representable as a JS number and are refused.
   */
  randint(low: number, high: number): number {
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
      throw new RangeError(`randint(${low}, ${high}): expected safe integers`);
    }
    if (low >= high) throw new RangeError(`randint(${low}, ${high}): low >= high`);
    const rng = high - 1 - low;
    if (rng === 0) return low;
    if (rng <= 0xffffffff) {
      if (rng === 0xffffffff) return low + this.mt.nextUint32();
      const mask = smallestMask32(rng);
      let v: number;
      // `& mask` on a uint32 yields a signed int32 when bit 31 is set; >>> 0 keeps it unsigned.
      do v = (this.mt.nextUint32() & mask) >>> 0;
      while (v > rng);
      return low + v;
    }
    const big = BigInt(rng);
    let mask = big;
    for (const s of [1n, 2n, 4n, 8n, 16n, 32n]) mask |= mask >> s;
    let v: bigint;
    do {
      const hi = BigInt(this.mt.nextUint32());
      const lo = BigInt(this.mt.nextUint32());
      v = ((hi << 32n) | lo) & mask;
    } while (v > big);
    return low + Number(v);
  }

  /** `randn()`: one standard normal by the legacy polar method, with numpy's cached pair. */
  randn(): number {
    if (this.hasGauss) {
      this.hasGauss = false;
      const g = this.gauss;
      this.gauss = 0;
      return g;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * exactLog(r2)) / r2);
    this.gauss = f * x1;
    this.hasGauss = true;
    return f * x2;
  }
}

/** Smallest `2^k - 1 >= x` for 0 < x < 2^32 (numpy's `gen_mask`). */
function smallestMask32(x: number): number {
  let m = x >>> 0;
  m |= m >>> 1;
  m |= m >>> 2;
  m |= m >>> 4;
  m |= m >>> 8;
  m |= m >>> 16;
  return m >>> 0;
}
