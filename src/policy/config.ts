import { z } from 'zod';
import { NetConfig } from '../nets/velocity-net.js';
import { InputError } from '../core/errors.js';
import { NormMode, Normalizer, type FeatureStats } from '../data/normalizer.js';
import { TimeSamplerConfig } from '../flow/time-sampler.js';
import { SolverConfig } from '../flow/ode.js';
import type { NetDims } from '../nets/velocity-net.js';

const positiveInt = z.number().int().positive();

export const FeatureSpecSchema = z.object({ key: z.string().min(1), shape: z.array(positiveInt).min(1) }).strict();

export const ObservationSpec = z
  .object({
    features: z.array(FeatureSpecSchema).min(1).describe('observation features, in the order they are concatenated'),
    horizon: positiveInt.describe('observation horizon To (frames of history)'),
  })
  .strict();

export const ActionSpec = z
  .object({
    key: z.string().min(1).describe('dataset feature holding the action'),
    dim: positiveInt.describe('action dimension'),
    horizon: positiveInt.describe('prediction horizon Tp (chunk length)'),
    execute: positiveInt.describe('actions executed per chunk Ta'),
  })
  .strict();

export const FlowSpec = z
  .object({
    path: z.literal('linear').default('linear').describe('probability path'),
    timeSampler: TimeSamplerConfig.prefault({ kind: 'uniform' }).describe('training time distribution'),
    otCoupling: z.boolean().default(false).describe('minibatch OT pairing of noise and chunks'),
  })
  .strict();

/**
 * A conditional flow-matching policy (the teacher): everything needed to
 * rebuild it besides weights and normalisation statistics.
 */
/**
 * Checks every policy config makes of its observation/action spec: the
 * executed actions fit in the chunk after the observation window, and
 * every feature has a normalisation mode.
 */
export function checkPolicyIo(
  c: { observation: { features: { key: string }[]; horizon: number }; action: { key: string; horizon: number; execute: number }; normalization: Record<string, unknown> },
  ctx: z.RefinementCtx,
): void {
  if (c.action.execute > c.action.horizon - c.observation.horizon + 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['action', 'execute'],
      input: c.action.execute,
      message: `at most horizon - obsHorizon + 1 = ${c.action.horizon - c.observation.horizon + 1}`,
    });
  }
  for (const key of [...c.observation.features.map((f) => f.key), c.action.key]) {
    if (!(key in c.normalization)) {
      ctx.addIssue({ code: 'custom', path: ['normalization', key], input: undefined, message: 'a normalisation mode for every feature' });
    }
  }
}

export const FlowPolicyConfig = z
  .object({
    kind: z.literal('flow'),
    observation: ObservationSpec,
    action: ActionSpec,
    normalization: z.record(z.string(), NormMode).describe('normalisation mode per feature'),
    net: NetConfig,
    flow: FlowSpec.prefault({}),
    inference: SolverConfig.prefault({}).describe('default sampler; act() may override'),
  })
  .strict()
  .superRefine(checkPolicyIo);
export type FlowPolicyConfig = z.infer<typeof FlowPolicyConfig>;


/** Values per observation frame: the features' sizes summed. */
export function frameSizeOf(features: readonly { shape: number[] }[]): number {
  return features.reduce((n, f) => n + f.shape.reduce((a, b) => a * b, 1), 0);
}

/** The network dimensions a policy config implies. */
export function netDimsOf(config: Pick<FlowPolicyConfig, 'observation' | 'action'>): NetDims {
  return {
    horizon: config.action.horizon,
    actionDim: config.action.dim,
    condDim: config.observation.horizon * frameSizeOf(config.observation.features),
  };
}

/**
 * The normaliser of a policy: its statistics in its normalisation modes,
 * refused when a feature's statistics have another size than the config
 * says (a checkpoint assembled from mismatched parts).
 */
export function normalizerFor(
  config: { observation: { features: { key: string; shape: number[] }[] }; action: { key: string; dim: number }; normalization: Record<string, NormMode> },
  stats: Readonly<Record<string, FeatureStats>>,
  source?: string,
): Normalizer {
  const normalizer = new Normalizer(stats, config.normalization);
  for (const f of config.observation.features) {
    const size = frameSizeOf([f]);
    if (normalizer.dim(f.key) !== size) throw new InputError(`stats["${f.key}"]`, `${normalizer.dim(f.key)} dimensions`, `${size} (shape [${f.shape}])`, source);
  }
  if (normalizer.dim(config.action.key) !== config.action.dim) {
    throw new InputError(`stats["${config.action.key}"]`, `${normalizer.dim(config.action.key)} dimensions`, `${config.action.dim}`, source);
  }
  return normalizer;
}
