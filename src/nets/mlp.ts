import * as tf from '@tensorflow/tfjs';
import { Linear } from './dense.js';
import { activation, type Activation } from './activations.js';
import { TimeEmbedding } from './time-embedding.js';
import type { ParamRegistry, ParamStore } from './params.js';
import type { NetDims, VelocityNet } from './velocity-net.js';

export interface MlpOptions {
  hidden: number;
  layers: number;
  timeEmbedDim: number;
  activation: Activation;
}

/**
 * MLP velocity field: [x_t (flat chunk), emb(t), obs features] -> hidden
 * layers -> velocity of the flat chunk. The cheapest network; good for
 * low-dimensional states.
 */
export class MlpVelocityNet implements VelocityNet {
  private readonly time: TimeEmbedding;
  private readonly layers: Linear[] = [];
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly registry: ParamRegistry,
    readonly dims: NetDims,
    options: MlpOptions,
  ) {
    const chunk = dims.horizon * dims.actionDim;
    this.time = new TimeEmbedding(registry.scope('time'), options.timeEmbedDim);
    let width = chunk + options.timeEmbedDim + dims.condDim;
    for (let i = 0; i < options.layers; i++) {
      this.layers.push(new Linear(registry, `mlp.${i}`, width, options.hidden));
      width = options.hidden;
    }
    this.layers.push(new Linear(registry, 'mlp.out', width, chunk));
    this.act = activation(options.activation);
  }

  /** The time embedding the first layer reads (constant for a fixed t: the real-time student folds it into a bias). */
  embedTime(p: ParamStore, t: tf.Tensor1D): tf.Tensor2D {
    return this.time.apply(p, t);
  }

  apply(p: ParamStore, xt: tf.Tensor2D, t: tf.Tensor1D, cond: tf.Tensor2D): tf.Tensor2D {
    let h: tf.Tensor = tf.concat([xt, this.embedTime(p, t), cond], 1);
    for (let i = 0; i < this.layers.length - 1; i++) h = this.act(this.layers[i].apply(p, h));
    return this.layers[this.layers.length - 1].apply(p, h) as tf.Tensor2D;
  }
}
