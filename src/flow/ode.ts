import { z } from 'zod';

/**
 * ODE solvers for sampling: integrate dx/dt = v(t, x) from t0 to t1
 * (generation runs from t = 0, noise, to t = 1, data).
 *
 * Every method is an explicit Runge–Kutta scheme given by its Butcher
 * tableau, so one stepping routine serves all of them:
 *   k_i = v(t + c_i h, x + h sum_j a_ij k_j),   x' = x + h sum_i b_i k_i.
 * Dormand–Prince 5(4) adds the embedded 4th-order weights b*_i; the local
 * error estimate h sum_i (b_i - b*_i) k_i drives its step size.
 *
 * The state is kept in float64 so that the solvers' own error, not rounding,
 * is what the order tests see; the velocity may return float32.
 */
export type VelocityField = (t: number, x: Float64Array) => ArrayLike<number>;

export const SOLVERS = ['euler', 'midpoint', 'rk4', 'dopri5'] as const;
export type SolverName = (typeof SOLVERS)[number];

export const SolverConfig = z
  .object({
    method: z.enum(SOLVERS).default('euler').describe('ODE solver'),
    steps: z.number().int().positive().default(10).describe('steps for fixed-step solvers'),
    rtol: z.number().positive().default(1e-5).describe('relative tolerance (dopri5)'),
    atol: z.number().positive().default(1e-5).describe('absolute tolerance (dopri5)'),
    maxSteps: z.number().int().positive().default(10_000).describe('step limit (dopri5)'),
  })
  .strict();
export type SolverConfig = z.infer<typeof SolverConfig>;
export type SolverOptions = z.input<typeof SolverConfig> & { t0?: number; t1?: number };

export interface OdeResult {
  x: Float64Array;
  /** Velocity evaluations (network calls). */
  nfe: number;
  acceptedSteps: number;
  rejectedSteps: number;
}

interface Tableau {
  c: number[];
  a: number[][];
  b: number[];
  /** Embedded lower-order weights, for adaptive methods. */
  bHat?: number[];
  order: number;
}

export const TABLEAUS: Record<SolverName, Tableau> = {
  euler: { c: [0], a: [[]], b: [1], order: 1 },
  midpoint: { c: [0, 0.5], a: [[], [0.5]], b: [0, 1], order: 2 },
  rk4: { c: [0, 0.5, 0.5, 1], a: [[], [0.5], [0, 0.5], [0, 0, 1]], b: [1 / 6, 1 / 3, 1 / 3, 1 / 6], order: 4 },
  dopri5: {
    c: [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
    a: [
      [],
      [1 / 5],
      [3 / 40, 9 / 40],
      [44 / 45, -56 / 15, 32 / 9],
      [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
      [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
      [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ],
    b: [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    bHat: [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
    order: 5,
  },
};

/** Stage buffers reused across steps. */
class Stages {
  readonly k: Float64Array[];
  readonly tmp: Float64Array;
  constructor(stages: number, dim: number) {
    this.k = Array.from({ length: stages }, () => new Float64Array(dim));
    this.tmp = new Float64Array(dim);
  }
}

function copyInto(dst: Float64Array, src: ArrayLike<number>, what: string): void {
  if (src.length !== dst.length) throw new RangeError(`velocity returned ${src.length} values for a state of ${dst.length} (${what})`);
  for (let i = 0; i < dst.length; i++) dst[i] = src[i];
}

/**
 * Fill the stages k_1..k_s of one explicit RK step from (t, x) with step h.
 * If `firstStage` is given it is used as k_1 (first-same-as-last reuse).
 * Returns the number of velocity evaluations made.
 */
function rkStages(f: VelocityField, tab: Tableau, t: number, x: Float64Array, h: number, st: Stages, firstStageKnown: boolean): number {
  let nfe = 0;
  const n = x.length;
  for (let s = 0; s < tab.c.length; s++) {
    if (s === 0 && firstStageKnown) continue;
    const row = tab.a[s];
    if (s === 0) {
      copyInto(st.k[0], f(t, x), 'stage 1');
    } else {
      for (let i = 0; i < n; i++) {
        let acc = x[i];
        for (let j = 0; j < row.length; j++) if (row[j] !== 0) acc += h * row[j] * st.k[j][i];
        st.tmp[i] = acc;
      }
      copyInto(st.k[s], f(t + tab.c[s] * h, st.tmp), `stage ${s + 1}`);
    }
    nfe++;
  }
  return nfe;
}

function combine(x: Float64Array, h: number, weights: number[], st: Stages, out: Float64Array): void {
  for (let i = 0; i < x.length; i++) {
    let acc = x[i];
    for (let s = 0; s < weights.length; s++) if (weights[s] !== 0) acc += h * weights[s] * st.k[s][i];
    out[i] = acc;
  }
}

/** Fixed-step integration with `steps` equal steps. */
function integrateFixed(f: VelocityField, x0: ArrayLike<number>, tab: Tableau, steps: number, t0: number, t1: number): OdeResult {
  const x = Float64Array.from(x0);
  const st = new Stages(tab.c.length, x.length);
  const h = (t1 - t0) / steps;
  let nfe = 0;
  for (let i = 0; i < steps; i++) {
    const t = t0 + i * h;
    nfe += rkStages(f, tab, t, x, h, st, false);
    combine(x, h, tab.b, st, x);
  }
  return { x, nfe, acceptedSteps: steps, rejectedSteps: 0 };
}

/** RMS norm of v / (atol + rtol * max(|a|, |b|)), as in Hairer, Nørsett & Wanner. */
function scaledRms(v: Float64Array, a: Float64Array, b: Float64Array, rtol: number, atol: number): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    const sc = atol + rtol * Math.max(Math.abs(a[i]), Math.abs(b[i]));
    const r = v[i] / sc;
    sum += r * r;
  }
  return Math.sqrt(sum / Math.max(1, v.length));
}

/** Adaptive Dormand–Prince 5(4) with FSAL and the standard step-size controller. */
function integrateDopri5(f: VelocityField, x0: ArrayLike<number>, o: SolverConfig, t0: number, t1: number): OdeResult {
  const tab = TABLEAUS.dopri5;
  const dir = Math.sign(t1 - t0) || 1;
  const span = Math.abs(t1 - t0);
  const x = Float64Array.from(x0);
  const n = x.length;
  const st = new Stages(tab.c.length, n);
  const xNew = new Float64Array(n);
  const err = new Float64Array(n);
  const errW = tab.b.map((b, i) => b - tab.bHat![i]);
  let nfe = 0;
  let accepted = 0;
  let rejected = 0;
  if (span === 0) return { x, nfe, acceptedSteps: 0, rejectedSteps: 0 };

  // Initial step (Hairer, Nørsett & Wanner, II.4): from the scale of x and v.
  copyInto(st.k[0], f(t0, x), 'initial');
  nfe++;
  const d0 = scaledRms(x, x, x, o.rtol, o.atol);
  const d1 = scaledRms(st.k[0], x, x, o.rtol, o.atol);
  let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1;
  h0 = Math.min(h0, span);
  for (let i = 0; i < n; i++) st.tmp[i] = x[i] + dir * h0 * st.k[0][i];
  const f1 = Float64Array.from(f(t0 + dir * h0, st.tmp));
  nfe++;
  for (let i = 0; i < n; i++) err[i] = (f1[i] - st.k[0][i]) / h0;
  const d2 = scaledRms(err, x, x, o.rtol, o.atol);
  const h1 = Math.max(d1, d2) <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : Math.pow(0.01 / Math.max(d1, d2), 1 / 5);
  let h = Math.min(100 * h0, h1, span);

  let t = t0;
  let haveK1 = true;
  while (dir * (t1 - t) > 1e-12 * Math.max(1, span)) {
    if (accepted + rejected >= o.maxSteps) {
      throw new Error(`dopri5: exceeded ${o.maxSteps} steps at t = ${t} (rtol ${o.rtol}, atol ${o.atol}); the velocity may be stiff or non-finite`);
    }
    h = Math.min(h, dir * (t1 - t));
    const hs = dir * h;
    nfe += rkStages(f, tab, t, x, hs, st, haveK1);
    combine(x, hs, tab.b, st, xNew);
    for (let i = 0; i < n; i++) {
      let e = 0;
      for (let s = 0; s < errW.length; s++) if (errW[s] !== 0) e += errW[s] * st.k[s][i];
      err[i] = hs * e;
    }
    const errNorm = scaledRms(err, x, xNew, o.rtol, o.atol);
    if (!Number.isFinite(errNorm)) throw new Error(`dopri5: non-finite state at t = ${t}`);
    if (errNorm <= 1) {
      t += hs;
      x.set(xNew);
      // FSAL: the last stage was evaluated at (t + h, x_new), the next step's first.
      st.k[0].set(st.k[tab.c.length - 1]);
      haveK1 = true;
      accepted++;
    } else {
      haveK1 = true; // k_1 at (t, x) still holds
      rejected++;
    }
    const factor = errNorm === 0 ? 10 : Math.min(10, Math.max(0.2, 0.9 * Math.pow(errNorm, -1 / 5)));
    h *= errNorm <= 1 ? factor : Math.min(1, factor);
  }
  return { x, nfe, acceptedSteps: accepted, rejectedSteps: rejected };
}

/**
 * Integrate dx/dt = f(t, x) from t0 (default 0) to t1 (default 1).
 * Fixed-step methods take `steps` steps; dopri5 adapts its steps to keep the
 * local error within atol + rtol |x|.
 */
export function integrate(f: VelocityField, x0: ArrayLike<number>, options: SolverOptions = {}): OdeResult {
  const { t0 = 0, t1 = 1, ...rest } = options;
  const o = SolverConfig.parse(rest);
  if (o.method === 'dopri5') return integrateDopri5(f, x0, o, t0, t1);
  return integrateFixed(f, x0, TABLEAUS[o.method], o.steps, t0, t1);
}
