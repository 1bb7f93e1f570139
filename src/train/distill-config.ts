import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { SolverConfig } from '../flow/ode.js';
import { NetConfig } from '../nets/velocity-net.js';
import { StudentAnchors } from '../policy/student-config.js';
import { TrainOptions } from './config.js';

const int = () => z.number().int();

/**
 * Which windows to distil on, when not the teacher run's own (its
 * config.json). The observation and action keys are always the teacher's.
 */
export const DistillDataset = z
  .object({
    path: z.string().min(1).describe('dataset path (Diffusion Policy .zarr)'),
    valRatio: z.number().min(0).max(0.9).default(0.02).describe('fraction of episodes held out (not distilled on)'),
    maxTrainEpisodes: int().positive().nullable().default(90).describe('cap on training episodes (null: all)'),
    splitSeed: int().default(42).describe('seed of the train/val split'),
  })
  .strict();
export type DistillDataset = z.infer<typeof DistillDataset>;

/**
 * Observations a policy visited in closed loop (a dataset of episodes it
 * ran, e.g. `flowpolicy sim record`), distilled on beside the training
 * windows: the teacher labels the states the student actually reaches,
 * which the demonstrations never show it (DAgger's data aggregation). Only
 * the observation windows are read; the recorded actions are not used.
 */
export const VisitedObservations = z
  .object({
    path: z.string().min(1).describe('dataset of episodes a policy ran in closed loop (flowpolicy or Diffusion Policy .zarr)'),
    every: int().positive().default(1).describe('keep every n-th window (windows run episode by episode, one per frame)'),
  })
  .strict();
export type VisitedObservations = z.infer<typeof VisitedObservations>;

/**
 * Jittered copies of the training windows, labelled by the teacher like
 * the windows themselves: the student learns the teacher's answers around
 * each demonstrated state, not only at it (data/jitter-windows.ts).
 */
export const JitterConfig = z
  .object({
    copies: int().positive().default(1).describe('jittered copies of every training window'),
    sigma: z.number().positive().describe('standard deviation of the shift, in normalised observation units (one shift per window, the same for its To frames)'),
    seed: int().default(0).describe('seed of the shifts'),
  })
  .strict();
export type JitterConfig = z.infer<typeof JitterConfig>;

export const CacheOptions = z
  .object({
    k: int().positive().default(8).describe('teacher samples per training observation (K)'),
    solver: SolverConfig.prefault({ method: 'euler', steps: 100 }).describe('teacher ODE solver for the cached samples'),
    partWindows: int().positive().default(256).describe('observations per cache part (one teacher batch, one file)'),
    seed: int().default(0).describe('seed of the teacher noise'),
    dir: z.string().min(1).optional().describe('cache folder (default: <run>/teacher-cache); reused when built for the same teacher and settings'),
  })
  .strict();

/**
 * An anchored student (policy/student-config.ts StudentAnchors): its M
 * anchors drawn from N(0, I) with `seed`, the IMLE objective's m samples
 * of every observation; after the last step the gate is fitted to the
 * anchors' shares of the teacher's samples (train/gate-fit.ts).
 */
export const AnchorOptions = StudentAnchors.extend({
  seed: int().default(0).describe('seed of the anchors (drawn from N(0, I))'),
  fit: z
    .object({
      steps: int().positive().default(6000).describe('gate fit: optimizer steps'),
      batchSize: int().positive().default(512).describe('gate fit: windows per step'),
      lr: z.number().positive().default(1e-3).describe('gate fit: learning rate (constant)'),
      valRatio: z.number().min(0).max(0.5).default(0.05).describe('gate fit: share of windows held out for the reported loss'),
      seed: int().default(0).describe('gate fit: seed of the initial weights, the held-out windows and the batches'),
    })
    .strict()
    .prefault({}),
}).strict();

export const StudentOptions = z
  .object({
    latentDim: int().positive().optional().describe('latent size (default: chunk size: the warm start is then the teacher 1-step Euler sampler)'),
    warmStart: z.boolean().default(true).describe("initialise from the teacher's weights"),
    net: NetConfig.optional().describe("the student's network (default: the teacher's); another network starts from fresh weights (warmStart false)"),
    init: z
      .string()
      .min(1)
      .optional()
      .describe('a one-step student (.fpk or run folder) to start from instead of the teacher: its trunk (network and latent size as this student\'s) and latent projection'),
    anchors: AnchorOptions.optional().describe('a discrete latent: M anchors (objective.m of them) drawn by a gate fitted after training'),
  })
  .strict();

export const ObjectiveOptions = z
  .object({
    kind: z
      .enum(['imle', 'pairs', 'regression'])
      .default('imle')
      .describe(
        "imle; pairs: each cached teacher sample from the student at the teacher's own noise (needs the default latent size); or regression onto teacher samples from fresh latents (the negative control: collapses to the mean)",
      ),
    m: int().positive().default(16).describe('student samples per observation (m)'),
    epsilon: z.number().min(0).default(0).describe('IMLE rejection radius in normalised units (0: off)'),
    // Optional rather than defaulted (here and target): configs written before these fields keep their identity, so their runs still resume.
    assignment: z
      .enum(['nearest', 'matching'])
      .optional()
      .describe('IMLE: each teacher sample pulls its nearest student sample (default), or a least-distance one-to-one matching (needs m >= K)'),
  })
  .strict();

/** The optimiser and schedule of the flow trainer, with distillation defaults; no validation pass. */
export const DistillTrainOptions = TrainOptions.omit({ evalEvery: true }).extend({
  steps: int().positive().default(15000).describe('optimizer steps'),
  batchSize: int().positive().default(64).describe('observations per step (each with m student and K teacher samples)'),
  lr: z.number().positive().default(1e-4).describe('peak learning rate'),
  warmupSteps: int().nonnegative().default(100).describe('linear warm-up steps'),
  saveEvery: int().positive().default(500).describe('steps between checkpoints'),
});

/** A distillation run: what `flowpolicy distill` builds and the run folder keeps as config.json. */
export const DistillConfig = z
  .object({
    teacher: z.string().min(1).describe('teacher checkpoint (.fpk) or its run folder'),
    target: z
      .enum(['student', 'blocks', 'reflow'])
      .optional()
      .describe(
        "student (default): one one-step student (objective.*); blocks: each block of an LFM chain to one Euler step (N network calls), trained on the chain's own (input, output) pairs; reflow: the flow teacher's network retrained on its own (noise, sample) pairs, a straighter flow that samples well in fewer ODE steps (objective.*, student.latentDim and student.net unused)",
      ),
    dataset: DistillDataset.optional().describe("windows to distil on (default: the teacher run's config.json)"),
    // Optional rather than defaulted, like target: older configs keep their identity.
    observations: z
      .array(VisitedObservations)
      .optional()
      .describe('closed-loop observations distilled on besides the training windows (all their episodes; DAgger-style)'),
    jitter: JitterConfig.optional().describe('jittered copies of the training windows, distilled on besides them'),
    cache: CacheOptions.prefault({}),
    student: StudentOptions.prefault({}),
    objective: ObjectiveOptions.prefault({}),
    train: DistillTrainOptions.prefault({}),
  })
  .strict();
export type DistillConfig = z.infer<typeof DistillConfig>;
export type DistillConfigInput = z.input<typeof DistillConfig>;

/** Refuses the student's latent size and network where a target keeps the teacher's network and noise. */
export function assertStudentNetUnset(config: DistillConfig, why: string): void {
  for (const key of ['latentDim', 'net', 'init', 'anchors'] as const) {
    if (config.student[key] !== undefined) throw new InputError(`student.${key}`, config.student[key], `left unset with target '${config.target}' (${why})`);
  }
}

/**
 * Refuse objective settings for a target that has no objective to set (it
 * fits the teacher's own pairs): a changed field would be silently unused.
 */
export function assertObjectiveUnset(config: DistillConfig, why: string): void {
  assertDefaults('objective', config.objective, ObjectiveOptions.parse({}), () => `left unset with target '${config.target}' (${why})`);
}

/** Refuse cache solver settings for a teacher that solves no ODE (a refined student): a changed field would be silently unused. */
export function assertCacheSolverUnset(config: DistillConfig, why: string): void {
  assertDefaults('cache.solver', config.cache.solver, CacheOptions.parse({}).solver, (d) => `left at ${JSON.stringify(d)} ${why}`);
}

/** Throw on the first field of `section` that differs from its default, naming `<prefix>.<field>`. */
function assertDefaults<T extends object>(prefix: string, section: T, defaults: T, expected: (defaultValue: unknown) => string): void {
  for (const key of Object.keys(defaults) as (keyof T & string)[]) {
    if (section[key] !== defaults[key]) throw new InputError(`${prefix}.${key}`, section[key], expected(defaults[key]));
  }
}
