import * as tf from '@tensorflow/tfjs';
import type { ParamSink, ParamStore } from './params.js';

/**
 * Group normalisation (Wu & He 2018) over [B, T, C]: the channels are split
 * into G groups and each (sample, group) is normalised over its time steps
 * and channels, then scaled and shifted per channel.
 */
export class GroupNorm {
  readonly gamma: string;
  readonly beta: string;
  constructor(
    sink: ParamSink,
    name: string,
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    if (channels % groups !== 0) throw new RangeError(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.gamma = sink.declare(`${name}.weight`, [channels], { kind: 'ones' });
    this.beta = sink.declare(`${name}.bias`, [channels], { kind: 'zeros' });
  }
  apply(p: ParamStore, x: tf.Tensor3D): tf.Tensor3D {
    const [b, t, c] = x.shape;
    const g = x.reshape([b, t, this.groups, c / this.groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const normed = tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, this.eps))).reshape([b, t, c]);
    return tf.add(tf.mul(normed, p.get(this.gamma)), p.get(this.beta)) as tf.Tensor3D;
  }
}
