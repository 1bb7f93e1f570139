import { Rng } from '../../src/core/rng.js';
import { integrate } from '../../src/flow/ode.js';
import { slicedWasserstein } from '../../src/flow/sliced-wasserstein.js';
import type { FlowPolicy } from '../../src/policy/flow-policy.js';
import { ringSamples } from './ring.js';

/**
 * Samples per test condition, the test conditions, and the bound on SW_1
 * (p = 1: mode-weight fluctuations of a finite sample inflate SW_2 far more).
 */
export const N = 512;
export const PHIS = [0.3, 1.1, 2.0, 2.9, 4.0, 5.2];
export const BOUND = 0.3;

/** Maps noise at t = 0 to samples for a batch of normalised conditions. */
export type Sampler = (policy: FlowPolicy, cond: Float32Array, noise: Float32Array) => Float32Array;

export const correct: Sampler = (policy, cond, noise) => policy.sampleNormalized(cond, noise, N).chunks;

export const flippedSign: Sampler = (policy, cond, noise) => {
  const f = policy.velocityField(cond, N);
  const x = integrate((t, y) => Array.from(f.velocity(t, y), (v) => -v), noise, { method: 'rk4', steps: 8 }).x;
  f.dispose();
  return Float32Array.from(x);
};

export const reversedTime: Sampler = (policy, cond, noise) => {
  const f = policy.velocityField(cond, N);
  const x = integrate(f.velocity, noise, { method: 'rk4', steps: 8, t0: 1, t1: 0 }).x;
  f.dispose();
  return Float32Array.from(x);
};

/** Mean over the test conditions of SW_1(generated, fresh true samples). */
export function ringScore(policy: FlowPolicy, sampler: Sampler, seed: number): number {
  const rng = new Rng(seed);
  let total = 0;
  for (const phi of PHIS) {
    const frame = policy.normalizer.normalize('observation.state', [Math.cos(phi), Math.sin(phi)]);
    const cond = new Float32Array(2 * N);
    for (let i = 0; i < N; i++) cond.set(frame, 2 * i);
    const gen = policy.normalizer.unnormalize('action', sampler(policy, cond, rng.fillNormal(new Float32Array(2 * N))));
    total += slicedWasserstein(gen, ringSamples(phi, N, rng), 2, { seed, p: 1 });
  }
  return total / PHIS.length;
}

/** SW_1 between two independent true sample sets: the estimator's own noise floor. */
export function ringNoiseFloor(seed: number): number {
  const rng = new Rng(seed);
  return PHIS.reduce((s, phi) => s + slicedWasserstein(ringSamples(phi, N, rng), ringSamples(phi, N, rng), 2, { seed, p: 1 }), 0) / PHIS.length;
}
