import * as tf from '@tensorflow/tfjs';
import type { ParamSink, ParamStore } from './params.js';

/**
 * a @ b for 2-D tensors, with a gradient written on explicitly transposed
 * inputs: dA = dY @ B^T, dB = A^T @ dY. tfjs's own matMul gradient passes
 * transpose flags instead, which the wasm backend runs 10-15x slower than
 * a transpose followed by a plain product (measured in PLATFORM.md).
 */
export const matMul = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [tf.matMul(dy, tf.transpose(saved[1])), tf.matMul(tf.transpose(saved[0]), dy)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

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
    const y = tf.add(matMul(flat, p.get(this.w) as tf.Tensor2D), p.get(this.b));
    return x.rank === 2 ? y : y.reshape([...lead, this.outDim]);
  }
}
