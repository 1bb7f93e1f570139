import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { chainLogLikelihood, generateThroughChain, pushPool, pushThroughChain, type DensityBlock } from '../../src/flow/lfm.js';
import { lfmPath, trigonometricPath, type LfmInterpolant } from '../../src/flow/lfm-interpolant.js';
import { ouStep, ouStepPairs } from '../../src/flow/lfm-ou.js';
import { cumulativeSignal, ouSteps } from '../../src/flow/lfm-schedule.js';
import { linearPath } from '../../src/flow/path.js';
import { firstInputError } from '../helpers/errors.js';

// ---------------------------------------------------------------------------
// An exact LFM chain for Gaussian data N(m, diag(s^2)), no network needed.
//
// OU steps keep Gaussians Gaussian: P_n = N(m_n, s_n^2) per coordinate with
// m_n = e_n m_{n-1}, s_n^2 = e_n^2 s_{n-1}^2 + 1 - e_n^2, e_n = e^{-g_n}.
//
// Block n's pairs: a ~ N(m, s^2) (m, s of P_{n-1}), a' = e a + q z,
// q = sqrt(1 - e^2) (free block: e = 0, q = 1). Both interpolants are
// x_t = A(t) a + B(t) z, u_t = A'(t) a + B'(t) z:
//   linear:        A = t + (1 - t) e,         B = (1 - t) q
//   trigonometric: A = sin(pi t/2) + cos(pi t/2) e,  B = cos(pi t/2) q.
// (x_t, u_t) is jointly Gaussian, so the marginal velocity (what a perfectly
// trained block learns) is the regression of u_t on x_t:
//   v(t, x) = E[u_t | x_t = x] = A' m + (C / V)(x - A m),
//   V = Var x_t = A^2 s^2 + B^2,  C = Cov(u_t, x_t) = A A' s^2 + B B' = V' / 2,
// and div v = sum over coordinates of C / V. It carries the marginal
// N(A m, V) of x_t, which is P_n at t = 0 and P_{n-1} at t = 1.
//
// The flow map of this linear ODE is affine and increasing per coordinate,
// and the only increasing affine map from N(m', s'^2) to N(m, s^2) is
// x -> m + (s / s')(x - m'). So the whole chain maps noise z to m_0 + s_0 z
// exactly, and block n maps P_{n-1} -> P_n by x -> m_n + (s_n / s_{n-1})(x - m_{n-1}).
// ---------------------------------------------------------------------------

interface Gaussian {
  mean: number[];
  std: number[];
}

function ouGaussian(p: Gaussian, g: number): Gaussian {
  const e = Math.exp(-g);
  return { mean: p.mean.map((m) => e * m), std: p.std.map((s) => Math.sqrt(e * e * s * s + 1 - e * e)) };
}

/** P_0..P_{N-1} for the given steps, then N(0, I) as P_N. */
function pools(data: Gaussian, steps: ArrayLike<number>): Gaussian[] {
  const out = [data];
  for (let k = 0; k < steps.length; k++) out.push(ouGaussian(out[out.length - 1], steps[k]));
  out.push({ mean: data.mean.map(() => 0), std: data.std.map(() => 1) });
  return out;
}

function coefficients(kind: LfmInterpolant, t: number, e: number, q: number): [number, number, number, number] {
  if (kind === 'linear') return [t + (1 - t) * e, 1 - e, (1 - t) * q, -q];
  const c = Math.cos((Math.PI * t) / 2);
  const s = Math.sin((Math.PI * t) / 2);
  return [s + c * e, (Math.PI / 2) * (c - s * e), c * q, -(Math.PI / 2) * s * q];
}

/** The ideal block between P_{n-1} = `dataSide` and its OU step of size g (Infinity: free block). */
function idealBlock(kind: LfmInterpolant, dataSide: Gaussian, g: number): DensityBlock {
  const e = Math.exp(-g);
  const q = Math.sqrt(1 - e * e);
  const dim = dataSide.mean.length;
  const gain = (t: number): { A: number; dA: number; ratio: number[] } => {
    const [A, dA, B, dB] = coefficients(kind, t, e, q);
    const ratio = dataSide.std.map((s) => (A * dA * s * s + B * dB) / (A * A * s * s + B * B));
    return { A, dA, ratio };
  };
  return {
    velocity: (t, x) => {
      const { A, dA, ratio } = gain(t);
      const v = new Float64Array(x.length);
      for (let k = 0; k < x.length; k++) {
        const j = k % dim;
        const m = dataSide.mean[j];
        v[k] = dA * m + ratio[j] * (x[k] - A * m);
      }
      return v;
    },
    divergence: (t, x) => {
      const { ratio } = gain(t);
      const div = ratio.reduce((a, b) => a + b, 0);
      return new Float64Array(x.length / dim).fill(div);
    },
  };
}

/** Blocks 1..N of the ideal chain for `data` with OU steps `steps` (N = steps.length + 1). */
function idealChain(kind: LfmInterpolant, data: Gaussian, steps: ArrayLike<number>): DensityBlock[] {
  const p = pools(data, steps);
  return Array.from({ length: steps.length + 1 }, (_, n) => idealBlock(kind, p[n], n < steps.length ? steps[n] : Infinity));
}

function gaussianSample(p: Gaussian, rows: number, rng: Rng): Float64Array {
  const dim = p.mean.length;
  const x = new Float64Array(rows * dim);
  for (let k = 0; k < x.length; k++) x[k] = p.mean[k % dim] + p.std[k % dim] * rng.normal();
  return x;
}

function moments(x: ArrayLike<number>, dim: number): { mean: number[]; variance: number[] } {
  const rows = x.length / dim;
  const mean = new Array<number>(dim).fill(0);
  const variance = new Array<number>(dim).fill(0);
  for (let k = 0; k < x.length; k++) mean[k % dim] += x[k] / rows;
  for (let k = 0; k < x.length; k++) variance[k % dim] += (x[k] - mean[k % dim]) ** 2 / (rows - 1);
  return { mean, variance };
}

function logDensity(p: Gaussian, x: ArrayLike<number>, row: number): number {
  const dim = p.mean.length;
  let lp = 0;
  for (let j = 0; j < dim; j++) {
    const r = (x[row * dim + j] - p.mean[j]) / p.std[j];
    lp += -0.5 * r * r - Math.log(p.std[j]) - 0.5 * Math.log(2 * Math.PI);
  }
  return lp;
}

const DATA: Gaussian = { mean: [1.5, -0.5], std: [0.3, 1.4] };
const STEPS = ouSteps({ kind: 'geometric', blocks: 4, first: 0.2, ratio: 1.5 });
const RK4 = { method: 'rk4', steps: 32 } as const;

describe('OU step pairs', () => {
  it('match the OU transition: mean e^{-g} m, variance e^{-2g} s^2 + 1 - e^{-2g}', () => {
    const rng = new Rng(7);
    const n = 100_000;
    const [m, s, g] = [2, 0.5, 0.3];
    const a = new Float32Array(n).map(() => m + s * rng.normal());
    const out = ouStepPairs(a, g, rng);
    const { mean, variance } = moments(out, 1);
    const e = Math.exp(-g);
    // standard errors: about 0.003 on the mean, 0.005 on the variance
    expect(Math.abs(mean[0] - e * m)).toBeLessThan(0.015);
    expect(Math.abs(variance[0] - (e * e * s * s + 1 - e * e))).toBeLessThan(0.02);
  });

  it('are fixed by the seed and equal the formula for the drawn z', () => {
    const a = Float32Array.from([0.5, -1, 3, 0]);
    const first = ouStepPairs(a, 0.1, new Rng(3));
    expect(Array.from(ouStepPairs(a, 0.1, new Rng(3)))).toEqual(Array.from(first));
    const z = new Float64Array(4);
    const rng = new Rng(3);
    for (let i = 0; i < 4; i++) z[i] = rng.normal();
    const e = Math.exp(-0.1);
    a.forEach((ai, i) => expect(first[i]).toBeCloseTo(e * ai + Math.sqrt(1 - e * e) * z[i], 6));
    expect(Array.from(ouStep(a, 0.1, z))).toEqual(Array.from(first));
  });

  it('g = Infinity pairs with pure noise (the free block); g <= 0 is refused naming g', () => {
    const z = Float64Array.from([0.3, -2]);
    expect(Array.from(ouStep([1e300, 5], Infinity, z, new Float64Array(2)))).toEqual([0.3, -2]);
    expect(firstInputError(() => ouStep([1], 0, [0])).field).toBe('g');
    expect(() => ouStepPairs([1], -0.5, new Rng(1))).toThrow(/g = -0.5, expected an OU step size > 0/);
    expect(() => ouStepPairs([1], Number.NaN, new Rng(1))).toThrow(InputError);
  });
});

describe('step schedules', () => {
  it('geometric: g_n = c r^{n-1}, N - 1 of them', () => {
    expect(Array.from(ouSteps({ kind: 'geometric', blocks: 4, first: 0.1, ratio: 2 }))).toEqual([0.1, 0.2, 0.4]);
    expect(ouSteps({ kind: 'geometric', blocks: 1, first: 0.1, ratio: 2 }).length).toBe(0);
    // The official 2-D configs list [0.025, 0.031, 0.039, 0.049, 0.061, 0.076, 0.095, 0.119]: this, rounded.
    const official = [0.025, 0.031, 0.039, 0.049, 0.061, 0.076, 0.095, 0.119];
    const g = ouSteps({ kind: 'geometric', blocks: 9, first: 0.025, ratio: 1.25 });
    official.forEach((v, i) => expect(Math.abs(g[i] - v)).toBeLessThanOrEqual(0.0005 + 1e-12));
  });

  it('explicit: the listed steps', () => {
    expect(Array.from(ouSteps({ kind: 'explicit', steps: [0.15, 0.2, 0.26] }))).toEqual([0.15, 0.2, 0.26]);
  });

  it.each([
    ['cosine', (tau: number) => Math.cos(((Math.PI / 2) * (tau + 0.008)) / 1.008) / Math.cos(((Math.PI / 2) * 0.008) / 1.008)],
    ['linear', (tau: number) => Math.exp(-(0.1 * tau + (19.9 * tau * tau) / 2) / 2)],
  ] as const)('%s: positive growing steps that telescope to alpha((N-1)/N), bringing the variance near 1', (kind, alpha) => {
    const N = 10;
    const g = ouSteps({ kind, blocks: N });
    expect(g.length).toBe(N - 1);
    for (let k = 0; k < g.length; k++) {
      expect(g[k]).toBeGreaterThan(0);
      if (k > 0) expect(g[k]).toBeGreaterThan(g[k - 1]);
      // each step is the OU step between consecutive grid points
      expect(g[k]).toBeCloseTo(Math.log(alpha(k / N) / alpha((k + 1) / N)), 12);
    }
    const signal = cumulativeSignal(g);
    expect(signal[N - 2]).toBeCloseTo(alpha((N - 1) / N), 12);
    // Data of variance 0.04 (or 4) at P_{N-1}: 1 + (s^2 - 1) alpha^2.
    for (const s2 of [0.04, 4]) {
      let v = s2;
      for (const gk of g) v = Math.exp(-2 * gk) * v + 1 - Math.exp(-2 * gk);
      expect(v).toBeCloseTo(1 + (s2 - 1) * signal[N - 2] ** 2, 12);
      expect(Math.abs(v - 1)).toBeLessThan(0.1);
    }
  });

  it.each([
    [{ kind: 'geometric', blocks: 4, first: 0.1, ratio: -2 }, 'ratio', /ratio = -2, expected > 0/],
    [{ kind: 'geometric', blocks: 0, first: 0.1, ratio: 2 }, 'blocks', /blocks = 0/],
    [{ kind: 'geometric', blocks: 2.5, first: 0.1, ratio: 2 }, 'blocks', /blocks = 2.5/],
    [{ kind: 'geometric', blocks: 400, first: 1, ratio: 10 }, 'ratio', /finite positive OU steps/],
    [{ kind: 'cosine', blocks: 3, offset: -1 }, 'offset', /offset = -1/],
    [{ kind: 'linear', blocks: 3, betaMax: 0 }, 'betaMax', /betaMax = 0/],
    [{ kind: 'linear', blocks: 3, betaMni: 1 }, 'betaMni', /no such field/],
    [{ kind: 'explicit', steps: [0.1, 0] }, 'steps[1]', /steps\[1\] = 0/],
    [{ kind: 'sigmoid', blocks: 3 }, 'kind', /kind = "sigmoid"/],
  ])('refuses %o naming %s', (config, field, message) => {
    const err = firstInputError(() => ouSteps(config as never, 'lfm.json'));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(err.message.startsWith('lfm.json: ')).toBe(true);
  });
});

describe('interpolants', () => {
  const rows = 5;
  const dim = 3;
  const rng = new Rng(11);
  const noisy = new Float32Array(rows * dim).map(() => rng.normal());
  const data = new Float32Array(rows * dim).map(() => 2 + rng.normal());
  const t = Float32Array.from([0.1, 0.25, 0.5, 0.8, 0.97]);

  it.each(['linear', 'trigonometric'] as const)('%s: the velocity is d x_t / dt (central differences)', (kind) => {
    const path = lfmPath(kind);
    const h = 1e-3;
    const at = (tt: Float32Array): Float32Array => {
      const xt = new Float32Array(rows * dim);
      path.sample(noisy, data, tt, dim, xt, new Float32Array(rows * dim));
      return xt;
    };
    const ut = new Float32Array(rows * dim);
    path.sample(noisy, data, t, dim, new Float32Array(rows * dim), ut);
    const plus = at(t.map((v) => v + h));
    const minus = at(t.map((v) => v - h));
    for (let k = 0; k < ut.length; k++) expect(Math.abs((plus[k] - minus[k]) / (2 * h) - ut[k])).toBeLessThan(2e-3);
  });

  it.each(['linear', 'trigonometric'] as const)('%s: x_0 = a (noisier end), x_1 = a (data-side end)', (kind) => {
    const xt = new Float32Array(rows * dim);
    const ut = new Float32Array(rows * dim);
    lfmPath(kind).sample(noisy, data, new Float32Array(rows).fill(0), dim, xt, ut);
    xt.forEach((v, k) => expect(v).toBeCloseTo(noisy[k], 6));
    lfmPath(kind).sample(noisy, data, new Float32Array(rows).fill(1), dim, xt, ut);
    xt.forEach((v, k) => expect(v).toBeCloseTo(data[k], 6));
  });

  it('linear is path.ts\'s linearPath; trigonometric is its own; unknown names are refused', () => {
    expect(lfmPath('linear')).toBe(linearPath);
    expect(lfmPath('trigonometric')).toBe(trigonometricPath);
    expect(() => lfmPath('cubic' as never)).toThrow(/interpolant = "cubic"/);
  });
});

describe('the analytic block is what a network would learn from our pairs', () => {
  // v is affine in x, so it is the least-squares regression of u_t on x_t iff
  // slope and intercept match the sample fit over pairs drawn by ouStepPairs
  // and placed on the path by lfmPath.
  it.each(['linear', 'trigonometric'] as const)('%s', (kind) => {
    const data: Gaussian = { mean: [1.5], std: [0.3] };
    const [g, tFixed, n] = [0.4, 0.3, 100_000];
    const rng = new Rng(21);
    const a = Float32Array.from(gaussianSample(data, n, rng));
    const aPrime = ouStepPairs(a, g, rng);
    const xt = new Float32Array(n);
    const ut = new Float32Array(n);
    lfmPath(kind).sample(aPrime, a, new Float32Array(n).fill(tFixed), 1, xt, ut);
    const mx = xt.reduce((s, v) => s + v, 0) / n;
    const mu = ut.reduce((s, v) => s + v, 0) / n;
    let sxx = 0;
    let sxu = 0;
    for (let i = 0; i < n; i++) {
      sxx += (xt[i] - mx) ** 2;
      sxu += (xt[i] - mx) * (ut[i] - mu);
    }
    const slope = sxu / sxx;
    const v = idealBlock(kind, data, g).velocity(tFixed, Float64Array.from([0, 1]));
    expect(Math.abs(slope - (v[1] - v[0]))).toBeLessThan(0.02);
    expect(Math.abs(mu - slope * mx - v[0])).toBeLessThan(0.02);
  });
});

describe('chain: generation and pushing', () => {
  it.each(['linear', 'trigonometric'] as const)('%s: generation from N(0, I) is exactly m + s z, with the data moments', (kind) => {
    const blocks = idealChain(kind, DATA, STEPS).map((b) => b.velocity);
    const noise = gaussianSample({ mean: [0, 0], std: [1, 1] }, 20_000, new Rng(5));
    const { x, nfe } = generateThroughChain(blocks, noise, RK4);
    expect(nfe).toBe(4 * 32 * 4);
    for (let k = 0; k < 200; k++) expect(Math.abs(x[k] - (DATA.mean[k % 2] + DATA.std[k % 2] * noise[k]))).toBeLessThan(1e-6);
    const { mean, variance } = moments(x, 2);
    for (let j = 0; j < 2; j++) {
      expect(Math.abs(mean[j] - DATA.mean[j])).toBeLessThan(0.04);
      expect(variance[j] / DATA.std[j] ** 2).toBeGreaterThan(0.96);
      expect(variance[j] / DATA.std[j] ** 2).toBeLessThan(1.04);
    }
  });

  it('pushing the data pool through block 1 (t = 1 -> 0) gives P_1, and through all blocks N(0, I)', () => {
    const chain = idealChain('linear', DATA, STEPS);
    const p = pools(DATA, STEPS);
    const data = gaussianSample(DATA, 20_000, new Rng(9));
    const pool1 = pushPool(chain[0].velocity, data, RK4).x;
    for (let k = 0; k < 200; k++) {
      const j = k % 2;
      expect(pool1[k]).toBeCloseTo(p[1].mean[j] + (p[1].std[j] / DATA.std[j]) * (data[k] - DATA.mean[j]), 6);
    }
    // dopri5 integrates backwards too
    const adaptive = pushPool(chain[0].velocity, data.subarray(0, 200), { method: 'dopri5', rtol: 1e-8, atol: 1e-8 }).x;
    for (let k = 0; k < 200; k++) expect(adaptive[k]).toBeCloseTo(pool1[k], 6);

    const { x: latent } = pushThroughChain(
      chain.map((b) => b.velocity),
      data,
      RK4,
    );
    const { mean, variance } = moments(latent, 2);
    for (let j = 0; j < 2; j++) {
      expect(Math.abs(mean[j])).toBeLessThan(0.03);
      expect(Math.abs(variance[j] - 1)).toBeLessThan(0.04);
    }
    for (let k = 0; k < 200; k++) expect(latent[k]).toBeCloseTo((data[k] - DATA.mean[k % 2]) / DATA.std[k % 2], 6);
  });

  it('N = 1: no OU steps, one free block on plain flow-matching pairs (noise, data)', () => {
    const steps = ouSteps({ kind: 'geometric', blocks: 1, first: 0.3, ratio: 1.2 });
    expect(steps.length).toBe(0);
    // The free block's pairs are (z, a), as in plain flow matching.
    const z = Float32Array.from([0.4, -1.1]);
    expect(Array.from(ouStep([7, 8], Infinity, z))).toEqual(Array.from(z));
    const [block] = idealChain('linear', DATA, steps);
    const noise = gaussianSample({ mean: [0, 0], std: [1, 1] }, 20_000, new Rng(2));
    const { x } = generateThroughChain([block.velocity], noise, RK4);
    for (let k = 0; k < 200; k++) expect(x[k]).toBeCloseTo(DATA.mean[k % 2] + DATA.std[k % 2] * noise[k], 6);
    const { mean, variance } = moments(x, 2);
    for (let j = 0; j < 2; j++) {
      expect(Math.abs(mean[j] - DATA.mean[j])).toBeLessThan(0.04);
      expect(Math.abs(variance[j] / DATA.std[j] ** 2 - 1)).toBeLessThan(0.04);
    }
  });

  it('refuses an empty chain', () => {
    expect(firstInputError(() => generateThroughChain([], [0])).field).toBe('blocks');
  });
});

describe('chain: exact log-likelihood', () => {
  const heldOut = gaussianSample(DATA, 32, new Rng(123));
  // and a few points far in the tails
  const points = Float64Array.from([...heldOut, 4, 3, -2, -5, 1.5, -0.5]);
  const rows = points.length / 2;

  it.each(['linear', 'trigonometric'] as const)('%s: matches the data Gaussian\'s log-density (rk4)', (kind) => {
    const { logLikelihood, latent, nfe } = chainLogLikelihood(idealChain(kind, DATA, STEPS), points, 2, { method: 'rk4', steps: 64 });
    expect(nfe).toBe(4 * 64 * 4);
    for (let i = 0; i < rows; i++) {
      expect(Math.abs(logLikelihood[i] - logDensity(DATA, points, i))).toBeLessThan(1e-5);
      expect(latent[2 * i]).toBeCloseTo((points[2 * i] - DATA.mean[0]) / DATA.std[0], 6);
    }
  });

  it('matches with dopri5, and N = 1 too', () => {
    const adaptive = chainLogLikelihood(idealChain('trigonometric', DATA, STEPS), points, 2, { method: 'dopri5', rtol: 1e-7, atol: 1e-7 });
    const single = chainLogLikelihood(idealChain('linear', DATA, []), points, 2, { method: 'rk4', steps: 64 });
    for (let i = 0; i < rows; i++) {
      expect(Math.abs(adaptive.logLikelihood[i] - logDensity(DATA, points, i))).toBeLessThan(1e-4);
      expect(Math.abs(single.logLikelihood[i] - logDensity(DATA, points, i))).toBeLessThan(1e-6);
    }
  });

  it('checks dim, row count and what the callbacks return', () => {
    const chain = idealChain('linear', DATA, STEPS);
    expect(firstInputError(() => chainLogLikelihood(chain, [1, 2, 3], 2)).field).toBe('x');
    expect(firstInputError(() => chainLogLikelihood(chain, [1, 2], 0)).field).toBe('dim');
    const bad: DensityBlock = { velocity: chain[0].velocity, divergence: () => [0, 0, 0] };
    expect(() => chainLogLikelihood([bad], [1, 2], 2)).toThrow(/divergence returned 3 values for 1 rows/);
  });
});
