import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Activation } from './activations.js';
import { MlpVelocityNet } from './mlp.js';
import { UNet1dVelocityNet } from './unet1d.js';
import { ParamRegistry, type ParamStore } from './params.js';

export const MlpNetConfig = z
  .object({
    kind: z.literal('mlp').describe('network: mlp or unet1d'),
    hidden: z.number().int().positive().default(512).describe('width of each hidden layer'),
    layers: z.number().int().min(1).default(4).describe('number of hidden layers'),
    timeEmbedDim: z.number().int().min(4).multipleOf(2).default(64).describe('time embedding width'),
    activation: Activation.default('mish').describe('hidden activation'),
  })
  .strict();

export const UNet1dNetConfig = z
  .object({
    kind: z.literal('unet1d').describe('network: mlp or unet1d'),
    downDims: z.array(z.number().int().positive()).min(1).default([64, 128, 256]).describe('channels per level'),
    kernelSize: z.number().int().min(1).default(5).describe('temporal kernel size (odd)'),
    groups: z.number().int().positive().default(8).describe('GroupNorm groups'),
    timeEmbedDim: z.number().int().min(4).multipleOf(2).default(64).describe('time embedding width'),
  })
  .strict()
  .refine((c) => c.kernelSize % 2 === 1, { message: 'kernelSize must be odd', path: ['kernelSize'] });

/** Which network maps (x_t, t, observation features) to a velocity. */
export const NetConfig = z.discriminatedUnion('kind', [MlpNetConfig, UNet1dNetConfig]);
export type NetConfig = z.infer<typeof NetConfig>;

export interface NetDims {
  /** Prediction horizon Tp (chunk length). */
  horizon: number;
  actionDim: number;
  /** Length of the flat conditioning vector (To x observation features). */
  condDim: number;
}

/**
 * A velocity field v(x_t, t, c). Batches are flat: x_t is [B, horizon *
 * actionDim], t is [B] with t = 0 noise and t = 1 data, c is [B, condDim].
 */
export interface VelocityNet {
  readonly registry: ParamRegistry;
  readonly dims: NetDims;
  apply(p: ParamStore, xt: tf.Tensor2D, t: tf.Tensor1D, cond: tf.Tensor2D): tf.Tensor2D;
}

export function createVelocityNet(config: NetConfig, dims: NetDims): VelocityNet {
  const registry = new ParamRegistry();
  switch (config.kind) {
    case 'mlp':
      return new MlpVelocityNet(registry, dims, config);
    case 'unet1d':
      return new UNet1dVelocityNet(registry, dims, config);
  }
}
