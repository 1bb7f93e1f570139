import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

/** Mish (Misra 2019): x tanh(softplus(x)); Diffusion Policy's activation. */
export function mish(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.tanh(tf.softplus(x)));
}

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
