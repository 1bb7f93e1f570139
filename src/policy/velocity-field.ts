import * as tf from '@tensorflow/tfjs';
import { InputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { SolverOptions, VelocityField } from '../flow/ode.js';
import type { ParamStore } from '../nets/params.js';
import type { VelocityNet } from '../nets/velocity-net.js';

/**
 * What the flow policies (the teacher, each block of an LFM chain) share:
 * a network with given weights as a plain velocity function for the ODE
 * solvers, and the initial noise of act().
 */

/**
 * v(t, x | cond) of `net` with weights `params` for a batch of `batch`
 * conditions (t = 0 noise or a block's noisier end, t = 1 data or its
 * data-side end). Dispose it when done: it holds the condition tensor.
 */
export function netVelocityField(net: VelocityNet, params: ParamStore, cond: Float32Array, batch: number): { velocity: VelocityField; dispose(): void } {
  const { horizon, actionDim, condDim } = net.dims;
  const d = horizon * actionDim;
  if (cond.length !== batch * condDim) throw new RangeError(`cond has ${cond.length} values, expected ${batch} x ${condDim}`);
  const condT = tf.tensor2d(cond, [batch, condDim]);
  const xIn = new Float32Array(batch * d);
  const velocity = (t: number, x: Float64Array): Float32Array => {
    for (let i = 0; i < x.length; i++) xIn[i] = x[i];
    const out = tf.tidy(() => net.apply(params, tf.tensor2d(xIn, [batch, d]), tf.fill([batch], t) as tf.Tensor1D, condT));
    // Read outside the tidy: reading inside costs a copy per call on wasm.
    const v = out.dataSync() as Float32Array;
    out.dispose();
    return v;
  };
  return { velocity, dispose: () => condT.dispose() };
}

/** The starting noise of one act(): the caller's (checked for size) or a draw from the policy's generator. */
export function initialNoise(given: ArrayLike<number> | undefined, rng: Rng, action: { horizon: number; dim: number }): Float32Array {
  const noise = new Float32Array(action.horizon * action.dim);
  if (given) {
    if (given.length !== noise.length) throw new InputError('noise', given, `${noise.length} values (horizon ${action.horizon} x action dim ${action.dim})`);
    noise.set(given);
  } else {
    rng.fillNormal(noise);
  }
  return noise;
}

/** Solver overrides without a time span: a policy integrates over its own span(s). */
export function stripTimes(o: Partial<SolverOptions>): Partial<SolverOptions> {
  const { t0: _t0, t1: _t1, ...rest } = o;
  return rest;
}
