import * as tf from '@tensorflow/tfjs';

/**
 * Conditional flow-matching loss (Lipman et al. 2023):
 *   L = E_{t, x0, x1} | v_theta(x_t, t, c) - u_t(x_t | x0, x1) |^2,
 * averaged over the batch and over the elements of each sample, so its
 * scale does not depend on the chunk size. For the linear path
 * (see path.ts) the target is u_t = x1 - x0, with t = 0 noise and t = 1 data.
 */
export function cfmLoss(predicted: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(predicted, target));
}
