import { z } from 'zod';
import { NetConfig } from '../nets/velocity-net.js';
import { NormMode } from '../data/normalizer.js';
import { SolverConfig } from '../flow/ode.js';
import { FlowSpec } from '../policy/config.js';
import { LfmSpec } from '../policy/lfm-config.js';
import { LrSchedule } from './schedule.js';

const int = () => z.number().int();

export const DatasetConfig = z
  .object({
    path: z.string().min(1).describe('dataset path (Diffusion Policy .zarr)'),
    obsKeys: z
      .array(z.string().min(1))
      .min(1)
      .default(['observation.environment_state', 'observation.state'])
      .describe('observation features, concatenated in this order'),
    actionKey: z.string().min(1).default('action').describe('action feature'),
    valRatio: z.number().min(0).max(0.9).default(0.02).describe('fraction of episodes held out'),
    maxTrainEpisodes: int().positive().nullable().default(90).describe('cap on training episodes (null: all)'),
    splitSeed: int().default(42).describe('seed of the train/val split'),
  })
  .strict();

/** How a Local Flow Matching run pushes its pool through each trained block (training only; not part of the policy). */
export const LfmPushOptions = z
  .object({
    solver: SolverConfig.prefault({ method: 'rk4', steps: 10 }).describe('ODE solver pushing the pool through each trained block (its t = 1 -> 0)'),
    batch: int().positive().default(2048).describe('pool rows per network call while pushing'),
  })
  .strict();

/** The LFM fields of a run: the policy's (schedule, interpolant) and how pools are pushed. */
export const LfmRunOptions = LfmSpec.extend({ push: LfmPushOptions.prefault({}) });
export type LfmRunOptions = z.infer<typeof LfmRunOptions>;

export const PolicyOptions = z
  .object({
    // Optional rather than defaulted: run configs of flow policies stay as they were, so their runs still resume.
    kind: z.enum(['flow', 'lfm']).optional().describe('policy family: flow (flow matching, the default) or lfm (a Local Flow Matching chain)'),
    obsHorizon: int().positive().default(2).describe('observation horizon To'),
    predHorizon: int().positive().default(16).describe('prediction horizon Tp'),
    actionHorizon: int().positive().default(8).describe('executed actions Ta'),
    net: NetConfig.prefault({ kind: 'mlp' }),
    flow: FlowSpec.prefault({}),
    inference: SolverConfig.prefault({}),
    normalization: z.record(z.string(), NormMode).default({}).describe('per-feature mode; others min_max'),
    lfm: LfmRunOptions.optional().describe('Local Flow Matching (policy.kind lfm): schedule, interpolant, pool pushing'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.lfm !== undefined && p.kind !== 'lfm') {
      ctx.addIssue({ code: 'custom', path: ['lfm'], input: p.lfm, message: 'no lfm section unless policy.kind is "lfm"' });
    }
  });

export const TrainOptions = z
  .object({
    steps: int().positive().default(60000).describe('optimizer steps'),
    batchSize: int().positive().default(256).describe('windows per step'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate'),
    schedule: LrSchedule.default('cosine').describe('learning-rate schedule after warm-up'),
    warmupSteps: int().nonnegative().default(1000).describe('linear warm-up steps'),
    beta1: z.number().min(0).lt(1).default(0.95).describe('AdamW beta1'),
    beta2: z.number().min(0).lt(1).default(0.999).describe('AdamW beta2'),
    eps: z.number().positive().default(1e-8).describe('AdamW epsilon'),
    weightDecay: z.number().min(0).default(1e-6).describe('AdamW decoupled weight decay'),
    gradClip: z.number().min(0).default(1).describe('max global gradient norm (0: off)'),
    emaPower: z.number().positive().default(0.75).describe('EMA warm-up power'),
    emaMaxDecay: z.number().min(0).lt(1).default(0.9999).describe('EMA maximum decay'),
    logEvery: int().positive().default(50).describe('steps between metric records'),
    evalEvery: int().positive().default(2000).describe('steps between validation losses'),
    saveEvery: int().positive().default(5000).describe('steps between checkpoints'),
    seed: int().default(0).describe('seed of weights, batches and noise'),
  })
  .strict();

/** A training run: what `flowpolicy train --config` reads and the run folder keeps as config.json. */
export const RunConfig = z
  .object({
    dataset: DatasetConfig,
    policy: PolicyOptions.prefault({}),
    train: TrainOptions.prefault({}),
  })
  .strict();
export type RunConfig = z.infer<typeof RunConfig>;
export type RunConfigInput = z.input<typeof RunConfig>;
