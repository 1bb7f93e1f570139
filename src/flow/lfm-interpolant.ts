import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { linearPath, type ProbabilityPath } from './path.js';

/**
 * The interpolants a Local Flow Matching block regresses on, between a pair
 * (a', a): a' = the OU-stepped sample at t = 0 (the noisier end), a = the
 * pool sample at t = 1 (the data-side end). The paper and its code run time
 * the other way (their tau = 1 - t); the formulas below are theirs with
 * tau = 1 - t substituted.
 *
 * - linear: x_t = (1 - t) a' + t a,  u_t = a - a'  (path.ts's linearPath,
 *   with x0 = a', x1 = a).
 * - trigonometric: x_t = cos(pi t / 2) a' + sin(pi t / 2) a,
 *   u_t = (pi/2) (cos(pi t / 2) a - sin(pi t / 2) a').
 *   The official code's default. cos^2 + sin^2 = 1 keeps the variance of
 *   x_t at 1 when a' and a are independent with unit variance, where the
 *   linear path dips to 1/2 at t = 1/2.
 *
 * Either is a ProbabilityPath: `sample(a', a, t, dim, xt, ut)` fills x_t and
 * the target velocity u_t for a flat batch with one t per row.
 */
export const LFM_INTERPOLANTS = ['linear', 'trigonometric'] as const;
export const LfmInterpolant = z.enum(LFM_INTERPOLANTS).describe('LFM interpolant between a block\'s pair: linear or trigonometric');
export type LfmInterpolant = z.infer<typeof LfmInterpolant>;

export const trigonometricPath: ProbabilityPath = {
  name: 'trigonometric',
  sample(x0, x1, t, dim, xt, ut) {
    const n = t.length;
    if (x0.length !== n * dim || x1.length !== n * dim || xt.length !== n * dim || ut.length !== n * dim) {
      throw new RangeError(`trigonometricPath.sample: expected ${n} rows of ${dim}, got x0 ${x0.length}, x1 ${x1.length}`);
    }
    const halfPi = Math.PI / 2;
    for (let i = 0; i < n; i++) {
      const c = Math.cos(halfPi * t[i]);
      const s = Math.sin(halfPi * t[i]);
      for (let k = i * dim, end = k + dim; k < end; k++) {
        xt[k] = c * x0[k] + s * x1[k];
        ut[k] = halfPi * (c * x1[k] - s * x0[k]);
      }
    }
  },
};

/** The path of an interpolant name. */
export function lfmPath(kind: LfmInterpolant): ProbabilityPath {
  switch (kind) {
    case 'linear':
      return linearPath;
    case 'trigonometric':
      return trigonometricPath;
    default:
      throw new InputError('interpolant', kind, `one of ${LFM_INTERPOLANTS.map((k) => JSON.stringify(k)).join(', ')}`);
  }
}
