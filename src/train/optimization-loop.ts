import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FlowpolicyError, InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { ParamStore, type ParamRegistry } from '../nets/params.js';
import { AdamW } from './adamw.js';
import type { z } from 'zod';
import type { TrainOptions } from './config.js';
import { updateEma } from './ema.js';
import { MetricsLog, type MetricRecord } from './metrics-log.js';
import { learningRate } from './schedule.js';
import type { TrainState } from './train-state.js';

/** The options of the loop; `evalEvery` and `batchSize` belong to the trainers that use it. */
export type LoopOptions = Omit<z.infer<typeof TrainOptions>, 'evalEvery' | 'batchSize'>;

/**
 * Where a loop sits in a longer run made of several loops one after
 * another (the blocks of Local Flow Matching): its step s is step
 * `stepOffset + s` of `totalSteps` in metric records, in the log's cut-back
 * on resume and in onStep; `tags` are added to every record it writes;
 * `elapsedMsBefore` is the time the earlier loops took. The learning-rate
 * schedule, the EMA warm-up and the periodic saves stay the loop's own.
 */
export interface LoopPlacement {
  stepOffset: number;
  totalSteps: number;
  tags?: Record<string, number>;
  elapsedMsBefore?: number;
}

/** What a caller of any trainer can watch and stop. */
export interface RunHooks {
  /** After every optimizer step. */
  onStep?(info: { step: number; totalSteps: number; loss: number; lr: number }): void;
  /** Every metric record, as it is appended to metrics.jsonl. */
  onRecord?(record: MetricRecord): void;
  /** After a checkpoint and the resumable state were written. */
  onSave?(info: { step: number; checkpointPath: string }): void;
  /** Abort to stop after the current step; the run is saved before returning. */
  signal?: AbortSignal;
}

/** What every trainer returns. */
export interface RunResult {
  runDir: string;
  checkpointPath: string;
  step: number;
  totalSteps: number;
  interrupted: boolean;
  /** Mean training loss of the last logging window. */
  trainLoss: number | null;
  elapsedMs: number;
  stepsPerSecond: number;
  parameters: number;
}

/**
 * Optimizer steps per second of this session (`steps` in `sessionMs`); a
 * session that took no step (a finished run resumed) reports the run's
 * rate over all its sessions instead of 0.
 */
export function stepsPerSecond(o: { steps: number; sessionMs: number; runSteps: number; runMs: number }): number {
  if (o.steps > 0) return (o.steps * 1000) / Math.max(1, o.sessionMs);
  return (o.runSteps * 1000) / Math.max(1, o.runMs);
}

/** One optimizer step's work, built by a trainer from its own batch. */
export interface StepBatch {
  /** The loss to differentiate with respect to the trainable parameters. */
  loss: () => tf.Scalar;
  /** Tensors the loss reads; disposed after the step. */
  tensors: tf.Tensor[];
  /** Extra per-step figures, averaged over each logging window (e.g. IMLE's distinct selections). */
  metrics?: Record<string, number>;
}

/**
 * Paths of a run folder's files, refusing a folder that already holds a run
 * unless it is being resumed (checked before anything in it is written).
 */
export function runFolder<F extends Record<string, string>>(runDir: string, names: F, resume: boolean, marks: (keyof F)[]): Record<keyof F, string> {
  const files = Object.fromEntries(Object.entries(names).map(([k, f]) => [k, join(runDir, f)])) as Record<keyof F, string>;
  if (!resume && marks.some((k) => existsSync(files[k]))) {
    throw new InputError('--out', runDir, 'a new or empty run folder (this one holds a run: pass --resume to continue it, or choose another folder)');
  }
  return files;
}

/**
 * What every optimisation run shares (the flow-matching teacher, the
 * distilled student): AdamW on the trainable parameters and an EMA copy of
 * them (the weights a checkpoint gets), the run's generator of batches and
 * noise, the metrics log, the resumable state, and the step loop itself —
 * learning-rate schedule, logging windows, divergence check, periodic saves
 * and Ctrl-C between steps. A trainer supplies the batch of each step and
 * what to save; resuming restores every piece, so a resumed run continues
 * bit for bit.
 */
export class OptimizationLoop {
  readonly ema: ParamStore;
  /** Draws batches and noise; part of the resumable state. */
  readonly rng: Rng;
  readonly startStep: number;
  private readonly adam: AdamW;
  private readonly variables: Map<string, tf.Variable>;
  private readonly nameOfVariable: Map<string, string>;
  private readonly metrics: MetricsLog;
  private readonly elapsedBefore: number;
  private readonly started = performance.now();
  /** Mean training loss of the last logging window. */
  lastTrainLoss: number | null = null;

  private readonly params: ParamStore;
  private readonly options: LoopOptions;
  private readonly onRecord?: (record: MetricRecord) => void;
  private readonly placement: LoopPlacement;

  /**
   * `params` are the trainable parameters of the network `registry`
   * describes; `resumeFrom` restores a saved state (its elapsed time is the
   * whole run's); `placement` places the loop in a longer run.
   */
  constructor(init: {
    registry: ParamRegistry;
    params: ParamStore;
    options: LoopOptions;
    metricsPath: string;
    resumeFrom: TrainState | null;
    onRecord?: (record: MetricRecord) => void;
    placement?: LoopPlacement;
  }) {
    const { registry, params, options, metricsPath, resumeFrom } = init;
    this.params = params;
    this.options = options;
    this.onRecord = init.onRecord;
    this.placement = init.placement ?? { stepOffset: 0, totalSteps: options.steps };
    this.ema = ParamStore.fromWeights(registry, params.toWeights(), { kind: 'variable' });
    this.variables = params.variables();
    this.nameOfVariable = new Map([...this.variables].map(([name, v]) => [v.name, name]));
    const o = options;
    this.adam = new AdamW(this.variables, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip });
    this.rng = new Rng(o.seed + 1);
    this.metrics = new MetricsLog(metricsPath);
    if (resumeFrom) {
      params.assign(resumeFrom.params);
      this.ema.assign(resumeFrom.ema);
      this.adam.setState(resumeFrom.adam);
      this.rng.setState(resumeFrom.rng);
    }
    this.startStep = resumeFrom?.step ?? 0;
    this.elapsedBefore = resumeFrom?.elapsedMs ?? this.placement.elapsedMsBefore ?? 0;
    // Steps after the resumed one are replayed: their records go (and, for a
    // later loop of a longer run, whatever a replaced attempt at it wrote).
    const offset = this.placement.stepOffset;
    this.metrics.truncateAfter(resumeFrom ? offset + this.startStep : offset > 0 ? offset : -1);
    // A resumed run reports the loss it had logged until the save, until its own first window ends (or for good, if it has no step left).
    if (resumeFrom) this.lastTrainLoss = MetricsLog.lastLoss(metricsPath, { after: offset, upTo: offset + this.startStep, tags: this.placement.tags });
  }

  /** Append a record; `r.step` is already the run's step (see LoopPlacement). */
  record(r: MetricRecord): void {
    const tagged = this.placement.tags ? { ...r, ...this.placement.tags } : r;
    this.metrics.write(tagged);
    this.onRecord?.(tagged);
  }

  /** This loop's step `step` as a step of the whole run. */
  runStep(step: number): number {
    return this.placement.stepOffset + step;
  }

  /** What a trainer returns for its run, ended at `step`: the run's files and this loop's figures. */
  result(run: { runDir: string; checkpointPath: string; step: number; interrupted: boolean; parameters: number }): RunResult {
    return { ...run, totalSteps: this.options.steps, trainLoss: this.lastTrainLoss, elapsedMs: this.elapsedMs(), stepsPerSecond: this.stepsPerSecond(run.step) };
  }

  /** Milliseconds of training, across resumes. */
  elapsedMs(): number {
    return this.elapsedBefore + (performance.now() - this.started);
  }

  /** Optimizer steps per second, as the module's stepsPerSecond reads it for this loop. */
  stepsPerSecond(step: number): number {
    return stepsPerSecond({ steps: step - this.startStep, sessionMs: performance.now() - this.started, runSteps: this.runStep(step), runMs: this.elapsedMs() });
  }

  /** Everything a resume needs, for `saveTrainState`. `identity` is the run's config as the trainer fingerprints it. */
  trainState(step: number, identity: string): TrainState {
    return { step, config: identity, rng: this.rng.getState(), params: this.params.toWeights(), ema: this.ema.toWeights(), adam: this.adam.getState(), elapsedMs: this.elapsedMs() };
  }

  /**
   * Run steps from `startStep` to `options.steps`. `batch(step)` builds each
   * step's loss; `afterStep(step)` runs after it (validation); `save(step)`
   * every `saveEvery` steps, at the end, and when `signal` aborts (then the
   * loop stops after the current step).
   */
  async run(o: {
    what: string;
    runDir: string;
    signal?: AbortSignal;
    batch: (step: number) => StepBatch;
    afterStep?: (step: number) => void;
    onStep?: (info: { step: number; totalSteps: number; loss: number; lr: number }) => void;
    save: (step: number) => void;
  }): Promise<{ step: number; interrupted: boolean }> {
    const t = this.options;
    let step = this.startStep;
    let interrupted = false;
    let windowLoss = 0;
    let windowSteps = 0;
    let windowExtras: Record<string, number> = {};
    let windowStart = performance.now();
    while (step < t.steps) {
      if (o.signal?.aborted) {
        interrupted = true;
        break;
      }
      const lr = learningRate(step, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps: t.steps, schedule: t.schedule });
      const b = o.batch(step);
      const { value, grads } = tf.variableGrads(b.loss, [...this.variables.values()]);
      const named = new Map(Object.entries(grads).map(([vname, g]) => [this.nameOfVariable.get(vname)!, g]));
      const gradNorm = this.adam.apply(named, lr);
      updateEma(this.ema, this.params, step, { power: t.emaPower, maxDecay: t.emaMaxDecay });
      const loss = value.dataSync()[0];
      tf.dispose([...b.tensors, value, ...Object.values(grads)]);
      step++;
      if (!Number.isFinite(loss)) {
        gradNorm.dispose();
        throw new FlowpolicyError(`${o.what} diverged: loss is ${loss} at step ${step} (lower train.lr or raise train.warmupSteps; the last save is in ${o.runDir})`);
      }
      windowLoss += loss;
      windowSteps++;
      for (const [k, v] of Object.entries(b.metrics ?? {})) windowExtras[k] = (windowExtras[k] ?? 0) + v;
      o.onStep?.({ step: this.runStep(step), totalSteps: this.placement.totalSteps, loss, lr });
      if (step % t.logEvery === 0 || step === t.steps) {
        const now = performance.now();
        this.lastTrainLoss = windowLoss / windowSteps;
        const r: MetricRecord = { step: this.runStep(step), loss: this.lastTrainLoss, lr, gradNorm: gradNorm.dataSync()[0], stepsPerSecond: (windowSteps * 1000) / (now - windowStart), elapsedSeconds: this.elapsedMs() / 1000 };
        for (const [k, v] of Object.entries(windowExtras)) r[k] = v / windowSteps;
        this.record(r);
        windowLoss = 0;
        windowSteps = 0;
        windowExtras = {};
        windowStart = performance.now();
      }
      gradNorm.dispose();
      o.afterStep?.(step);
      if (step % t.saveEvery === 0 || step === t.steps) o.save(step);
      // Let signal handlers (Ctrl-C) run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (interrupted) o.save(step);
    return { step, interrupted };
  }

  dispose(): void {
    this.ema.dispose();
    this.adam.dispose();
  }
}
