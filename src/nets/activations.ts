import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { activeNativeBlas } from '../core/native-blas.js';
import { rawElementwiseOp } from '../core/raw-kernel.js';

/**
 * Mish (Misra 2019), Diffusion Policy's activation: x tanh(softplus(x)).
 * With e = exp(x) and n = e (e + 2), tanh(softplus(x)) = n / (n + 2), so
 *   mish(x)  = x n / (n + 2),
 *   mish'(x) = n / (n + 2) + 4 x e (e + 1) / (n + 2)^2:
 * one exp per element in one pass, forward and backward, where tfjs's
 * composite runs softplus, tanh and their gradients as separate kernels
 * (the largest cost of an MLP step after the matrix products). Above
 * x = 20, mish(x) = x and mish'(x) = 1 to double precision.
 */
function mishValue(x: number): number {
  if (x > 20) return x;
  const e = Math.exp(x);
  const n = e * (e + 2);
  return (x * n) / (n + 2);
}

function mishSlope(x: number): number {
  if (x > 20) return 1;
  const e = Math.exp(x);
  const n = e * (e + 2);
  const d = n + 2;
  return n / d + (4 * x * e * (e + 1)) / (d * d);
}

const mishComposite = (x: tf.Tensor) => tf.mul(x, tf.tanh(tf.softplus(x)));

// In JavaScript (double precision) on wasm and cpu; vectorised in the native addon when that backend runs.
const mishForward = rawElementwiseOp(
  'FlowpolicyMish',
  ['x'],
  1,
  ([x], [y]) => {
    const blas = activeNativeBlas();
    if (blas) return blas.mish(x, y);
    for (let i = 0; i < y.length; i++) y[i] = mishValue(x[i]);
  },
  ([x]) => [mishComposite(x)],
);

const mishBackward = rawElementwiseOp(
  'FlowpolicyMishGrad',
  ['x', 'dy'],
  1,
  ([x, dy], [dx]) => {
    const blas = activeNativeBlas();
    if (blas) return blas.mishGrad(x, dy, dx);
    for (let i = 0; i < dx.length; i++) dx[i] = dy[i] * mishSlope(x[i]);
  },
  ([x, dy]) => [tf.mul(dy, tf.grad(mishComposite)(x))],
);

export const mish = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return { value: mishForward([x])[0], gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => mishBackward([saved[0], dy])[0] };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** SiLU / swish: x sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

export const Activation = z.enum(['mish', 'silu', 'relu']);
export type Activation = z.infer<typeof Activation>;

export function activation(name: Activation): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'mish':
      return mish;
    case 'silu':
      return silu;
    case 'relu':
      return (x) => tf.relu(x);
  }
}
