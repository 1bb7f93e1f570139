import * as tf from '@tensorflow/tfjs';
import { Linear } from './dense.js';
import { mish } from './activations.js';
import { Conv1d, Downsample1d, Upsample1d } from './conv1d.js';
import { GroupNorm } from './group-norm.js';
import { TimeEmbedding } from './time-embedding.js';
import type { ParamRegistry, ParamSink, ParamStore } from './params.js';
import type { NetDims, VelocityNet } from './velocity-net.js';

export interface UNet1dOptions {
  downDims: number[];
  kernelSize: number;
  groups: number;
  timeEmbedDim: number;
}

/** Conv1d -> GroupNorm -> Mish. */
class ConvBlock {
  private readonly conv: Conv1d;
  private readonly norm: GroupNorm;
  constructor(sink: ParamSink, name: string, inCh: number, outCh: number, kernel: number, groups: number) {
    this.conv = new Conv1d(sink, `${name}.conv`, inCh, outCh, kernel);
    this.norm = new GroupNorm(sink, `${name}.norm`, Math.min(groups, outCh), outCh);
  }
  apply(p: ParamStore, x: tf.Tensor3D): tf.Tensor3D {
    return mish(this.norm.apply(p, this.conv.apply(p, x))) as tf.Tensor3D;
  }
}

/**
 * Residual block with FiLM conditioning (Perez et al. 2018), as Diffusion
 * Policy's ConditionalResidualBlock1D with cond_predict_scale:
 *   h = ConvBlock(x);  [s, b] = Linear(Mish(cond));  h = s * h + b;
 *   out = ConvBlock(h) + residual(x)   (1x1 conv when channels change).
 */
class FilmResBlock {
  private readonly block1: ConvBlock;
  private readonly block2: ConvBlock;
  private readonly film: Linear;
  private readonly residual: Conv1d | null;
  constructor(sink: ParamSink, name: string, inCh: number, readonly outCh: number, condDim: number, kernel: number, groups: number) {
    const s = sink.scope(name);
    this.block1 = new ConvBlock(s, 'block1', inCh, outCh, kernel, groups);
    this.block2 = new ConvBlock(s, 'block2', outCh, outCh, kernel, groups);
    this.film = new Linear(s, 'film', condDim, 2 * outCh);
    this.residual = inCh === outCh ? null : new Conv1d(s, 'residual', inCh, outCh, 1);
  }
  apply(p: ParamStore, x: tf.Tensor3D, cond: tf.Tensor2D): tf.Tensor3D {
    const b = x.shape[0];
    let h = this.block1.apply(p, x);
    const film = this.film.apply(p, mish(cond)).reshape([b, 1, 2 * this.outCh]);
    const scale = tf.slice(film, [0, 0, 0], [b, 1, this.outCh]);
    const shift = tf.slice(film, [0, 0, this.outCh], [b, 1, this.outCh]);
    h = tf.add(tf.mul(h, scale), shift) as tf.Tensor3D;
    h = this.block2.apply(p, h);
    return tf.add(h, this.residual ? this.residual.apply(p, x) : x) as tf.Tensor3D;
  }
}

/**
 * Temporal U-Net over the action chunk (Janner et al. 2022; Chi et al. 2023),
 * conditioned by FiLM on [emb(t), obs features]. Levels follow `downDims`;
 * every level but the last halves the time axis, so the horizon must divide
 * by 2^(levels - 1). Like the original, the skip of the first level is
 * computed but not consumed by the decoder.
 */
export class UNet1dVelocityNet implements VelocityNet {
  private readonly time: TimeEmbedding;
  private readonly down: { res1: FilmResBlock; res2: FilmResBlock; down: Downsample1d | null }[] = [];
  private readonly mid: FilmResBlock[] = [];
  private readonly up: { res1: FilmResBlock; res2: FilmResBlock; up: Upsample1d }[] = [];
  private readonly finalBlock: ConvBlock;
  private readonly finalConv: Conv1d;

  constructor(
    readonly registry: ParamRegistry,
    readonly dims: NetDims,
    options: UNet1dOptions,
  ) {
    const { downDims, kernelSize: k, groups, timeEmbedDim } = options;
    const levels = downDims.length;
    const factor = 2 ** (levels - 1);
    if (dims.horizon % factor !== 0) {
      throw new RangeError(`unet1d with ${levels} levels needs a horizon divisible by ${factor}, got ${dims.horizon}`);
    }
    this.time = new TimeEmbedding(registry.scope('time'), timeEmbedDim);
    const condDim = timeEmbedDim + dims.condDim;
    const all = [dims.actionDim, ...downDims];
    for (let i = 0; i < levels; i++) {
      const last = i === levels - 1;
      this.down.push({
        res1: new FilmResBlock(registry, `down.${i}.res1`, all[i], all[i + 1], condDim, k, groups),
        res2: new FilmResBlock(registry, `down.${i}.res2`, all[i + 1], all[i + 1], condDim, k, groups),
        down: last ? null : new Downsample1d(registry, `down.${i}.down`, all[i + 1]),
      });
    }
    const midCh = downDims[levels - 1];
    this.mid.push(new FilmResBlock(registry, 'mid.0', midCh, midCh, condDim, k, groups));
    this.mid.push(new FilmResBlock(registry, 'mid.1', midCh, midCh, condDim, k, groups));
    // Decoder: levels-1 stages, from the deepest skip upwards.
    for (let i = levels - 1; i >= 1; i--) {
      const outCh = downDims[i - 1];
      this.up.push({
        res1: new FilmResBlock(registry, `up.${levels - 1 - i}.res1`, 2 * downDims[i], outCh, condDim, k, groups),
        res2: new FilmResBlock(registry, `up.${levels - 1 - i}.res2`, outCh, outCh, condDim, k, groups),
        up: new Upsample1d(registry, `up.${levels - 1 - i}.up`, outCh),
      });
    }
    this.finalBlock = new ConvBlock(registry, 'final.block', downDims[0], downDims[0], k, groups);
    this.finalConv = new Conv1d(registry, 'final.conv', downDims[0], dims.actionDim, 1);
  }

  apply(p: ParamStore, xt: tf.Tensor2D, t: tf.Tensor1D, cond: tf.Tensor2D): tf.Tensor2D {
    const b = xt.shape[0];
    const c = tf.concat([this.time.apply(p, t), cond], 1) as tf.Tensor2D;
    let x = xt.reshape([b, this.dims.horizon, this.dims.actionDim]) as tf.Tensor3D;
    const skips: tf.Tensor3D[] = [];
    for (const level of this.down) {
      x = level.res2.apply(p, level.res1.apply(p, x, c), c);
      skips.push(x);
      if (level.down) x = level.down.apply(p, x);
    }
    for (const block of this.mid) x = block.apply(p, x, c);
    for (const level of this.up) {
      x = tf.concat([x, skips.pop()!], 2);
      x = level.res2.apply(p, level.res1.apply(p, x, c), c);
      x = level.up.apply(p, x);
    }
    x = this.finalConv.apply(p, this.finalBlock.apply(p, x));
    return x.reshape([b, this.dims.horizon * this.dims.actionDim]);
  }
}
