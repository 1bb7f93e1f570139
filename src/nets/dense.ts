import * as tf from '@tensorflow/tfjs';
import { activeNativeBlas } from '../core/native-blas.js';
import type { ParamSink, ParamStore } from './params.js';

/**
 * Whether transposes should be explicit copies rather than matMul flags:
 * plain wasm runs flagged products 10-15x slower than a transpose followed
 * by a plain product (PLATFORM.md); the native BLAS, cpu and libtensorflow
 * take the flags for free.
 */
function explicitTransposes(): boolean {
  return tf.getBackend() === 'wasm' && activeNativeBlas() === null;
}

/** a @ b^T and a^T @ b, flagged or on explicit transposes, whichever the backend runs faster. */
function matMulBt(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return explicitTransposes() ? tf.matMul(a, tf.transpose(b)) : tf.matMul(a, b, false, true);
}
function matMulAt(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return explicitTransposes() ? tf.matMul(tf.transpose(a), b) : tf.matMul(a, b, true, false);
}

/** a @ b for 2-D tensors, with the gradient dA = dY B^T, dB = A^T dY on the fastest form of each product. */
export const matMul = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [matMulBt(dy, saved[1] as tf.Tensor2D), matMulAt(saved[0] as tf.Tensor2D, dy)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * x @ W + b for x [N, in], W [in, out], b [out], with one gradient for the
 * three: dx = dY W^T, dW = x^T dY, db = 1^T dY. The bias gradient as a
 * product with a row of ones runs on the matrix-product kernel; tfjs's own
 * broadcast-add gradient sums over the batch axis, which wasm does by
 * transposing dY first.
 */
export const affine = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [
      matMulBt(dy, saved[1] as tf.Tensor2D),
      matMulAt(saved[0] as tf.Tensor2D, dy),
      tf.matMul(tf.ones([1, dy.shape[0]]), dy).reshape([dy.shape[1]]),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/** A fully connected layer y = x W + b with W of shape [in, out]. */
export class Linear {
  readonly w: string;
  readonly b: string;
  constructor(
    sink: ParamSink,
    name: string,
    readonly inDim: number,
    readonly outDim: number,
  ) {
    this.w = sink.declare(`${name}.weight`, [inDim, outDim], { kind: 'fanIn', fanIn: inDim });
    this.b = sink.declare(`${name}.bias`, [outDim], { kind: 'fanIn', fanIn: inDim });
  }

  /** x: [..., in] -> [..., out]. */
  apply(p: ParamStore, x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : (x.reshape([-1, this.inDim]) as tf.Tensor2D);
    const y = affine(flat, p.get(this.w) as tf.Tensor2D, p.get(this.b) as tf.Tensor1D);
    return x.rank === 2 ? y : y.reshape([...lead, this.outDim]);
  }
}
