import { describe, expect, it } from 'vitest';
import { integrate, type SolverName } from '../../src/flow/ode.js';

// y' = y cos t + [rotation of a 2-D state], with a closed-form solution:
// y0(t) = exp(sin t) (scalar part); (y1, y2) rotates at angular speed t, so
// the angle is t^2 / 2 and the radius stays 1.
const field = (t: number, x: Float64Array): Float64Array =>
  Float64Array.from([x[0] * Math.cos(t), -t * x[2], t * x[1]]);
const exact = (t: number): number[] => [Math.exp(Math.sin(t)), Math.cos((t * t) / 2), Math.sin((t * t) / 2)];
const x0 = [1, 1, 0];

function globalError(method: SolverName, steps: number): number {
  const { x } = integrate(field, x0, { method, steps });
  const e = exact(1);
  return Math.max(...e.map((v, i) => Math.abs(v - x[i])));
}

/** Least-squares slope of log(error) against log(h). */
function observedOrder(method: SolverName, stepCounts: number[]): number {
  const pts = stepCounts.map((n) => [Math.log(1 / n), Math.log(globalError(method, n))]);
  const mx = pts.reduce((s, p) => s + p[0], 0) / pts.length;
  const my = pts.reduce((s, p) => s + p[1], 0) / pts.length;
  const num = pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return num / den;
}

describe('fixed-step solvers reach their global order of accuracy', () => {
  it.each([
    ['euler', 1, [32, 64, 128, 256]],
    ['midpoint', 2, [16, 32, 64, 128]],
    ['rk4', 4, [8, 16, 32, 64]],
  ] as const)('%s has order %i', (method, order, counts) => {
    const p = observedOrder(method, [...counts]);
    expect(p).toBeGreaterThan(order - 0.15);
    expect(p).toBeLessThan(order + 0.15);
  });

  it('counts one velocity call per stage per step', () => {
    expect(integrate(field, x0, { method: 'euler', steps: 10 }).nfe).toBe(10);
    expect(integrate(field, x0, { method: 'midpoint', steps: 10 }).nfe).toBe(20);
    expect(integrate(field, x0, { method: 'rk4', steps: 10 }).nfe).toBe(40);
  });

  it('integrates backwards when t1 < t0', () => {
    const forward = integrate(field, x0, { method: 'rk4', steps: 64 }).x;
    const back = integrate(field, forward, { method: 'rk4', steps: 64, t0: 1, t1: 0 }).x;
    back.forEach((v, i) => expect(v).toBeCloseTo(x0[i], 8));
  });
});

describe('adaptive Dormand–Prince 5(4)', () => {
  it.each([1e-3, 1e-5, 1e-7, 1e-9])('meets tolerance %s', (tol) => {
    const r = integrate(field, x0, { method: 'dopri5', rtol: tol, atol: tol });
    const e = exact(1);
    const err = Math.max(...e.map((v, i) => Math.abs(v - r.x[i])));
    expect(err).toBeLessThan(10 * tol);
    expect(r.acceptedSteps).toBeGreaterThan(0);
  });

  it('spends more evaluations for tighter tolerances, and fewer than a fixed-step solver of equal accuracy', () => {
    const loose = integrate(field, x0, { method: 'dopri5', rtol: 1e-4, atol: 1e-4 });
    const tight = integrate(field, x0, { method: 'dopri5', rtol: 1e-9, atol: 1e-9 });
    expect(tight.nfe).toBeGreaterThan(loose.nfe);
    expect(tight.nfe).toBeLessThan(integrate(field, x0, { method: 'rk4', steps: 64 }).nfe * 2);
  });

  it('rejects steps where the solution turns sharply, and keeps the accuracy', () => {
    // A pulse around t = 0.5 on top of a slow drift: large steps taken on
    // the drift must be rejected when they reach the pulse.
    const pulse = (t: number): Float64Array => Float64Array.from([1 + 20 * Math.exp(-((t - 0.5) ** 2) * 400)]);
    const r = integrate(pulse, [0], { method: 'dopri5', rtol: 1e-8, atol: 1e-8 });
    const truth = 1 + 20 * Math.sqrt(Math.PI / 400); // the Gaussian's tails beyond [0, 1] are below 1e-40
    expect(r.x[0]).toBeCloseTo(truth, 5);
    expect(r.rejectedSteps).toBeGreaterThan(0);
  });

  it('fails clearly when the step budget runs out', () => {
    expect(() => integrate(field, x0, { method: 'dopri5', rtol: 1e-12, atol: 1e-12, maxSteps: 3 })).toThrow(/exceeded 3 steps/);
  });

  it('reports a velocity of the wrong size', () => {
    expect(() => integrate(() => [1, 2], [0, 0, 0], { method: 'euler', steps: 2 })).toThrow(/returned 2 values for a state of 3/);
  });
});
