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

/**
 * Cross-entropy of logits g [B, M] against target weights w [B, M] (rows of
 * shares, not necessarily one-hot):
 *   H = -1/B sum_b sum_j w_bj log softmax(g_b)_j,
 * smallest where softmax(g_b) = w_b / sum_j w_bj. An anchored student's
 * gate learns its anchors' shares this way (flow/imle.ts selectionShares).
 */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar);
}
