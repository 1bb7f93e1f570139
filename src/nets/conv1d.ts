import * as tf from '@tensorflow/tfjs';
import { affine } from './dense.js';
import type { ParamSink, ParamStore } from './params.js';

/**
 * 1-D convolutions over the time axis of [B, T, C] tensors (channels last),
 * written as im2col + matrix product. The wasm backend has no
 * Conv2DBackpropFilter kernel, so tfjs's conv1d cannot be trained there;
 * slices, concat and matMul train on every backend.
 *
 * Weight layout: [k * C_in, C_out], row j * C_in + c holds tap j of input
 * channel c (PyTorch's Conv1d weight w[o, c, j] is W[j * C_in + c, o]).
 */
function im2col(x: tf.Tensor3D, k: number): tf.Tensor3D {
  const [b, t, c] = x.shape;
  if (k === 1) return x;
  const left = Math.floor((k - 1) / 2);
  const padded = tf.pad(x, [
    [0, 0],
    [left, k - 1 - left],
    [0, 0],
  ]);
  const taps: tf.Tensor3D[] = [];
  for (let j = 0; j < k; j++) taps.push(tf.slice(padded, [0, j, 0], [b, t, c]));
  return tf.concat(taps, 2);
}

/** Conv1d with stride 1 and 'same' zero padding. */
export class Conv1d {
  readonly w: string;
  readonly b: string;
  constructor(
    sink: ParamSink,
    name: string,
    readonly inCh: number,
    readonly outCh: number,
    readonly kernel: number,
  ) {
    const fanIn = inCh * kernel;
    this.w = sink.declare(`${name}.weight`, [kernel * inCh, outCh], { kind: 'fanIn', fanIn });
    this.b = sink.declare(`${name}.bias`, [outCh], { kind: 'fanIn', fanIn });
  }

  protected project(p: ParamStore, cols: tf.Tensor3D): tf.Tensor3D {
    const [b, t, kc] = cols.shape;
    const y = affine(cols.reshape([b * t, kc]), p.get(this.w) as tf.Tensor2D, p.get(this.b) as tf.Tensor1D);
    return y.reshape([b, t, this.outCh]);
  }

  apply(p: ParamStore, x: tf.Tensor3D): tf.Tensor3D {
    return this.project(p, im2col(x, this.kernel));
  }
}

/** Halves the time axis: Conv1d(C, C, 3, stride 2, padding 1), as Diffusion Policy's Downsample1d. */
export class Downsample1d extends Conv1d {
  constructor(sink: ParamSink, name: string, ch: number) {
    super(sink, name, ch, ch, 3);
  }
  override apply(p: ParamStore, x: tf.Tensor3D): tf.Tensor3D {
    const [b, t] = x.shape;
    if (t % 2 !== 0) throw new RangeError(`Downsample1d needs an even length, got ${t}`);
    const cols = im2col(x, 3);
    const kc = cols.shape[2];
    // Output i sees inputs 2i-1, 2i, 2i+1: the even rows of the stride-1 columns.
    const even = tf.slice(cols.reshape([b, t / 2, 2, kc]), [0, 0, 0, 0], [b, t / 2, 1, kc]).reshape([b, t / 2, kc]) as tf.Tensor3D;
    return this.project(p, even);
  }
}

/**
 * Doubles the time axis. Diffusion Policy uses ConvTranspose1d(C, C, 4, 2, 1),
 * whose output 2m mixes inputs m-1, m and output 2m+1 inputs m, m+1: a
 * kernel-3 convolution to 2C channels followed by interleaving the two
 * halves (sub-pixel convolution) spans the same family of maps.
 */
export class Upsample1d extends Conv1d {
  constructor(sink: ParamSink, name: string, readonly ch: number) {
    super(sink, name, ch, 2 * ch, 3);
  }
  override apply(p: ParamStore, x: tf.Tensor3D): tf.Tensor3D {
    const [b, t] = x.shape;
    return super.apply(p, x).reshape([b, 2 * t, this.ch]);
  }
}
