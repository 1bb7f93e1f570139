import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { activeBackend } from '../core/backend.js';
import { concatFloat32 } from '../core/bytes.js';
import { digestOf } from '../core/digest.js';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { parseInput } from '../core/schema.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';
import { jitterWindows } from '../data/jitter-windows.js';
import { loadDataset } from '../data/load-dataset.js';
import { splitEpisodes } from '../data/split.js';
import { WindowSampler } from '../data/windows.js';
import { imleSelect, meanRowDistance, regressionLoss, selectedRows } from '../flow/imle.js';
import { decodeCheckpoint, saveCheckpoint } from '../policy/checkpoint.js';
import type { FlowPolicyConfig } from '../policy/config.js';
import { FlowPolicy } from '../policy/flow-policy.js';
import { LocalFlowPolicy } from '../policy/local-flow-policy.js';
import { GATE_PREFIX, latentDimOf, studentConfigFor, type StudentConfig } from '../policy/student-config.js';
import { splitStudentWeights, StudentPolicy } from '../policy/student-policy.js';
import { GateNet } from '../nets/gate-net.js';
import { ParamStore, type WeightMap } from '../nets/params.js';
import { Rng } from '../core/rng.js';
import { anchorShares, fitGate } from './gate-fit.js';
import { resolveCheckpointPath } from '../policy/policy-source.js';
import { RunConfig } from './config.js';
import { assertCacheSolverUnset, DistillConfig, type DistillDataset } from './distill-config.js';
import { refinedStudentSampler } from './refined-teacher.js';
import { RUN_FILES } from './flow-trainer.js';
import { OptimizationLoop, runFolder, type RunHooks, type RunResult } from './optimization-loop.js';
import { openSegmentedTeacherCache, segmentedCacheNoise, segmentedParts, type CacheProgress, type SamplingTeacher, type SegmentedTeacherCache } from './teacher-cache.js';
import { isSameRun } from './run-identity.js';
import { loadTrainState, saveTrainState } from './train-state.js';

/** The files of a distillation run folder: those of a training run, plus the teacher sample cache. */
export const DISTILL_FILES = { ...RUN_FILES, cache: 'teacher-cache' } as const;

export interface DistillStartInfo {
  startStep: number;
  totalSteps: number;
  teacherPath: string;
  trainEpisodes: number;
  /** Observation windows distilled on, of which `visitedWindows` come from closed-loop episodes (config.observations) and `jitteredWindows` are jittered copies (config.jitter). */
  windows: number;
  visitedWindows: number;
  jitteredWindows: number;
  parameters: number;
  /** The student's config (target 'student'). */
  studentConfig?: StudentConfig;
  /** The chain's block count (target 'blocks'). */
  blocks?: number;
  /** The reflowed flow's config, the teacher's (target 'reflow'). */
  reflowConfig?: FlowPolicyConfig;
  cacheDir: string;
}

export interface DistillHooks extends RunHooks {
  /** Before the teacher cache is opened (drawing it may take a while); `sampling` says how its samples are drawn. */
  onCacheStart?(info: { dir: string; windows: number; parts: number; k: number; sampling: string }): void;
  onCacheProgress?(p: CacheProgress): void;
  onStart?(info: DistillStartInfo): void;
  /** An anchored student's gate fit, after the last step: its start, each step, its end. */
  onGateStart?(info: { windows: number; anchors: number; steps: number }): void;
  onGateProgress?(info: { step: number; steps: number; loss: number }): void;
  onGateEnd?(info: { valLoss: number; uniformLoss: number; targetEntropy: number }): void;
}

export interface DistillResult extends RunResult {
  cache: { dir: string; builtParts: number; reusedParts: number };
}

/**
 * What a resumed run must match, as canonical JSON: the config without
 * train.steps (which a resume may extend) and without the paths that only
 * locate its inputs (the teacher, the dataset, the closed-loop
 * observations, the cache folder), plus the digests of what those paths
 * hold: the teacher checkpoint and the observation windows distilled on. A
 * run folder moved together with its teacher and data therefore resumes
 * from the new paths.
 */
function runIdentity(config: DistillConfig, teacherDigest: string, windowsDigest: string, initDigest?: string): string {
  // The dataset settings only choose the training windows, which windowsDigest covers (so a run whose dataset
  // came from its teacher's run can be given --dataset when that moved).
  const { teacher: _teacher, dataset: _dataset, observations, ...rest } = config;
  return JSON.stringify({
    ...rest,
    // The starting student is known by its digest, like the teacher (no key at all without one: older identities stay).
    student: { ...config.student, init: undefined },
    train: { ...config.train, steps: undefined },
    // The cache checks its own contents (teacher digest, conditions) wherever it lies.
    cache: { ...config.cache, dir: undefined },
    observations: observations?.map((o) => ({ ...o, path: undefined })),
    teacherDigest,
    windowsDigest,
    ...(initDigest ? { initDigest } : {}),
  });
}

/** The identity written by versions before runIdentity left the paths out, so that their runs still resume in place. */
function pathIdentity(config: DistillConfig, teacherDigest: string): string {
  return JSON.stringify({ ...config, train: { ...config.train, steps: undefined }, teacherDigest });
}

/** The teacher digest a run's identity records (either form), or null when it cannot be read. */
function recordedTeacherDigest(identity: string): string | null {
  try {
    const digest = (JSON.parse(identity) as { teacherDigest?: unknown }).teacherDigest;
    return typeof digest === 'string' ? digest : null;
  } catch {
    return null;
  }
}

/** What every distillation starts from: the run folder, the teacher, its training windows. */
export interface DistillationSetup {
  runDir: string;
  files: { [K in keyof typeof DISTILL_FILES]: string };
  signal: AbortSignal | undefined;
  teacherPath: string;
  teacherDigest: string;
  /** The teacher's checkpoint as decoded (stats, weights). */
  checkpoint: ReturnType<typeof decodeCheckpoint>;
  /** A flow teacher, an LFM chain, or a refined student (its two calls are what a student of it learns in one). */
  teacher: FlowPolicy | LocalFlowPolicy | StudentPolicy;
  /** The student to start from (config.student.init), as read. */
  init: { path: string; bytes: Buffer } | null;
  /** The run config as it is checked on resume. */
  identity: string;
  state: ReturnType<typeof loadTrainState> | null;
  datasetPath: string;
  trainEpisodes: number;
  /** How many of the N windows are closed-loop observations (config.observations), after the training windows. */
  visitedWindows: number;
  /** How many are jittered copies of the training windows (config.jitter), after those. */
  jitteredWindows: number;
  /** Normalised observation windows [N, C] and their counts. */
  conds: Float32Array;
  /** conds in the teacher cache's segments: the training windows, each set of closed-loop observations, each jittered copy. */
  segments: Float32Array[];
  /** The teacher noise seed of each segment. */
  segmentSeeds: number[];
  N: number;
  C: number;
  D: number;
}

/**
 * The normalised observation windows [n, C] of `episodes` (every `every`-th
 * window, in episode order), as the teacher reads them; a dataset lacking
 * one of the teacher's features, or holding it in another size, is refused.
 */
function observationWindows(teacher: DistillationSetup['teacher'], dataset: EpisodeDataset, episodes: number[], every: number): Float32Array {
  const tc = teacher.config;
  for (const f of tc.observation.features) {
    const size = dataset.featureSize(f.key);
    if (size !== f.shape.reduce((a, b) => a * b, 1)) throw new InputError(`dataset feature ${f.key}`, `${size} values per frame`, `[${f.shape}] as the teacher reads`, dataset.info.source);
  }
  const windows = new WindowSampler(
    dataset,
    // Observations only: the recorded actions are never read, and a recording need not hold them.
    { obsKeys: tc.observation.features.map((f) => f.key), actionKey: null, obsHorizon: tc.observation.horizon, predHorizon: tc.action.horizon, padBefore: tc.observation.horizon - 1, padAfter: tc.action.execute - 1 },
    episodes,
  );
  const picked = Int32Array.from({ length: Math.ceil(windows.length / every) }, (_, i) => i * every);
  const conds = new Float32Array(picked.length * teacher.condSize);
  windows.fill(picked, conds, null, teacher.normalizer);
  return conds;
}

/**
 * The dataset and split a teacher was trained on, from the config.json of
 * its run folder: a training run's, or a distillation run's (a reflow, or
 * the student run a refined student was written into): its own dataset, or
 * else that of its teacher, followed back to a training run.
 */
export function teacherDataset(teacherPath: string, seen: string[] = []): DistillDataset {
  const runConfigPath = join(dirname(teacherPath), RUN_FILES.config);
  if (!existsSync(runConfigPath)) {
    throw new InputError('dataset', undefined, `dataset.path (--dataset): ${teacherPath} has no ${RUN_FILES.config} beside it to take the teacher's dataset from`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(runConfigPath, 'utf8'));
  } catch (err) {
    throw new InputError('teacher run config', runConfigPath, `a valid JSON file (${(err as Error).message})`);
  }
  if (typeof raw === 'object' && raw !== null && 'teacher' in raw) {
    const distilled = parseInput(DistillConfig, raw, runConfigPath);
    if (distilled.dataset) return distilled.dataset;
    const earlier = resolveCheckpointPath(distilled.teacher, 'teacher');
    if (seen.includes(earlier)) throw new InputError('teacher', distilled.teacher, `a teacher that is not distilled from itself (${[...seen, earlier].join(' -> ')})`, runConfigPath);
    return teacherDataset(earlier, [...seen, teacherPath]);
  }
  return parseInput(RunConfig, raw, runConfigPath).dataset;
}

/**
 * Open a distillation: the teacher (a flow policy or an LFM chain; a
 * student is refused), a resumed run's state (checked to be the same run
 * before anything in the folder is touched), and the teacher's training
 * windows (its own dataset config and split unless the config names one).
 */
export async function openDistillation(
  config: DistillConfig,
  options: { runDir: string; resume?: boolean; hooks?: DistillHooks; signal?: AbortSignal; dataset?: EpisodeDataset },
): Promise<DistillationSetup> {
  const { runDir, hooks = {} } = options;
  const signal = options.signal ?? hooks.signal;
  const files = runFolder(runDir, DISTILL_FILES, options.resume === true, ['state', 'config']);

  // The teacher: a flow policy, or an LFM chain sampled through all its blocks; a student is refused.
  const teacherPath = resolveCheckpointPath(config.teacher, 'teacher');
  const teacherBytes = readFileSync(teacherPath);
  const teacherDigest = digestOf(teacherBytes);
  const t0 = decodeCheckpoint(teacherBytes, teacherPath);
  if (t0.config.kind === 'student' && !t0.config.refine) {
    throw new InputError('config.kind', t0.config.kind, "'flow' or 'lfm' (a flow-matching teacher or an LFM chain), or a refined student (`flowpolicy refine`): this checkpoint holds a one-step student", teacherPath);
  }
  const teacher =
    t0.config.kind === 'student'
      ? new StudentPolicy(t0.config, t0.stats, t0.weights, { source: teacherPath, engine: 'tfjs' })
      : t0.config.kind === 'lfm'
        ? new LocalFlowPolicy(t0.config, t0.stats, t0.weights, { source: teacherPath })
        : new FlowPolicy(t0.config, t0.stats, t0.weights, { source: teacherPath });
  const state = options.resume && existsSync(files.state) ? loadTrainState(files.state) : null;
  const recordedDigest = state && recordedTeacherDigest(state.config);
  if (recordedDigest && recordedDigest !== teacherDigest) {
    teacher.dispose();
    throw new InputError('teacher', config.teacher, `the teacher checkpoint of the run being resumed (sha256 ${recordedDigest.slice(0, 12)}...; this one is ${teacherDigest.slice(0, 12)}...)`, teacherPath);
  }

  // The teacher's training windows: its own dataset config and split unless given.
  const datasetConfig = config.dataset ?? teacherDataset(teacherPath);
  const dataset = options.dataset ?? (await loadDataset(datasetConfig.path));
  const tc = teacher.config;
  const split = splitEpisodes(dataset.numEpisodes, { valRatio: datasetConfig.valRatio, maxTrainEpisodes: datasetConfig.maxTrainEpisodes, seed: datasetConfig.splitSeed });
  const trainConds = observationWindows(teacher, dataset, split.train, 1);
  if (trainConds.length === 0) throw new InputError('dataset', datasetConfig.path, `training episodes of at least ${tc.action.horizon - tc.action.execute + 1} frames`);
  // Closed-loop observations follow the training windows, so the cache's first rows stay the demonstrations'.
  const visited: Float32Array[] = [];
  for (const [i, o] of (config.observations ?? []).entries()) {
    const ds = await loadDataset(o.path);
    const rows = observationWindows(teacher, ds, Array.from({ length: ds.numEpisodes }, (_, e) => e), o.every);
    if (rows.length === 0) throw new InputError(`observations[${i}].path`, o.path, 'episodes with at least one observation window');
    visited.push(rows);
  }
  const C = teacher.condSize;
  const D = teacher.chunkSize;
  const jittered = config.jitter ? jitterWindows(trainConds, { windowSize: C, frames: tc.observation.horizon }, config.jitter) : [];
  const segments = [trainConds, ...visited, ...jittered];
  const conds = concatFloat32(segments);
  const N = conds.length / C;
  const visitedWindows = visited.reduce((n, v) => n + v.length / C, 0);
  const jitteredWindows = jittered.reduce((n, v) => n + v.length / C, 0);
  // A jittered copy's rows line up with the training windows' and its states lie next to theirs:
  // under the same seed each row would start from its window's noise and repeat its draws nearly,
  // so each copy gets a seed of its own. Closed-loop sets keep the cache seed (their caches stay valid).
  const segmentSeeds = segments.map((_, i) => (i <= visited.length ? config.cache.seed : config.cache.seed + i - visited.length));
  // The student to start from (student.init), like the teacher known by its digest.
  const initPath = config.student.init !== undefined ? resolveCheckpointPath(config.student.init, 'student.init') : null;
  const initBytes = initPath ? readFileSync(initPath) : null;
  // A resumed run must be the same run: checked before anything in the folder is touched.
  const identity = runIdentity(config, teacherDigest, digestOf(conds), initBytes ? digestOf(initBytes) : undefined);
  if (state && !isSameRun(state.config, identity, pathIdentity(config, teacherDigest))) {
    teacher.dispose();
    throw new InputError('--resume', runDir, `the same distillation config, teacher${initPath ? ', starting student' : ''} and observation windows as the run being resumed (only train.steps may change)`);
  }

  return {
    runDir,
    files,
    signal,
    teacherPath,
    teacherDigest,
    checkpoint: t0,
    teacher,
    init: initPath && initBytes ? { path: initPath, bytes: initBytes } : null,
    identity,
    state,
    datasetPath: datasetConfig.path,
    trainEpisodes: split.train.length,
    visitedWindows,
    jitteredWindows,
    conds,
    segments,
    segmentSeeds,
    N,
    C,
    D,
  };
}

/**
 * Write the run's config.json, then open (drawing what is missing) the
 * teacher cache of a distillation's observations, sampled by `sampler`
 * (the teacher itself, or what a target caches of it). Null `cache` when
 * the signal aborted the build (whole parts are kept).
 */
export async function openDistillationCache(
  setup: DistillationSetup,
  config: DistillConfig,
  hooks: DistillHooks,
  sampler: SamplingTeacher,
): Promise<{ cacheDir: string; cache: SegmentedTeacherCache | null }> {
  const { runDir, files, segments, segmentSeeds, N, C } = setup;
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(files.config, `${JSON.stringify(config, null, 2)}\n`);
  const cacheDir = config.cache.dir ?? files.cache;
  const { solver } = config.cache;
  const sampling = sampler.sampling ?? `${solver.method}${solver.method === 'dopri5' ? '' : `, ${solver.steps} steps`}`;
  hooks.onCacheStart?.({ dir: cacheDir, windows: N, parts: segmentedParts(segments, C, config.cache.partWindows), k: config.cache.k, sampling });
  const cache = await openSegmentedTeacherCache(sampler, segments, {
    dir: cacheDir,
    k: config.cache.k,
    solver: config.cache.solver,
    seed: config.cache.seed,
    seeds: segmentSeeds,
    partWindows: config.cache.partWindows,
    teacherDigest: setup.teacherDigest,
    signal: setup.signal,
    onProgress: hooks.onCacheProgress,
  });
  return { cacheDir, cache };
}

/** What a distillation returns when it was stopped while its cache was drawn: no step taken. */
export function stoppedInCache(setup: DistillationSetup, config: DistillConfig, cacheDir: string, parameters = 0): DistillResult {
  return {
    runDir: setup.runDir,
    checkpointPath: setup.files.checkpoint,
    step: 0,
    totalSteps: config.train.steps,
    interrupted: true,
    trainLoss: null,
    elapsedMs: 0,
    stepsPerSecond: 0,
    parameters,
    cache: { dir: cacheDir, builtParts: 0, reusedParts: 0 },
  };
}

/**
 * The trunk weights of the student a distillation starts from
 * (student.init): a one-step student whose network and latent size are
 * this student's (not a refined one: its correction is not trained here).
 */
function initialStudentWeights(init: { path: string; bytes: Buffer }, config: StudentConfig, stats: unknown): WeightMap {
  const c = decodeCheckpoint(init.bytes, init.path, { kind: 'student' });
  // Its weights act in the normalised space of its stats: they must be the teacher's.
  if (!isDeepStrictEqual(c.stats, stats)) throw new InputError('student.init', init.path, "a student with the teacher's normalisation stats (it was distilled from a teacher of other data)");
  if (c.config.refine) throw new InputError('student.init', init.path, 'a one-step student without a refine stage (refine after distilling)');
  if (!isDeepStrictEqual(c.config.net, config.net)) throw new InputError('student.init', init.path, `a student with this student's network ${JSON.stringify(config.net)} (it has ${JSON.stringify(c.config.net)})`);
  if (latentDimOf(c.config) !== latentDimOf(config)) throw new InputError('student.init', init.path, `a student of latent size ${latentDimOf(config)} (it has ${latentDimOf(c.config)})`);
  for (const key of ['observation', 'action'] as const) {
    if (!isDeepStrictEqual(c.config[key], config[key])) throw new InputError('student.init', init.path, `a student of the teacher's ${key} spec ${JSON.stringify(config[key])}`);
  }
  return splitStudentWeights(c.weights).trunk;
}

/**
 * Distil a flow teacher (or a Local Flow Matching chain, sampled through
 * all its blocks) into a one-step student with the IMLE objective
 * (flow/imle.ts), or by plain regression onto teacher samples (the
 * negative control). Writes into `runDir`: config.json, the teacher cache
 * (unless cache.dir points elsewhere), metrics.jsonl, checkpoint.fpk (a
 * 'student' checkpoint with the EMA weights) and train-state.fpk (for
 * `resume`), each file atomically. A resumed run continues bit for bit.
 * The student starts from the teacher's weights, or from another student's
 * (student.init). The teacher may also be a refined student
 * (refined-teacher.ts): its two calls' samples are learned in one, from
 * its own trunk. An anchored student (student.anchors) trains with its
 * anchors as the m samples; after the last step its gate is fitted
 * (train/gate-fit.ts) and the checkpoint written again with it; until
 * then the checkpoint's gate is uniform. A run stopped during the fit fits
 * again on resume (seeded: the same gate).
 */
export async function distillStudent(
  config: DistillConfig,
  options: { runDir: string; resume?: boolean; hooks?: DistillHooks; signal?: AbortSignal; dataset?: EpisodeDataset },
): Promise<DistillResult> {
  const { hooks = {} } = options;
  const { kind: objective, m, epsilon } = config.objective;
  const assignment = config.objective.assignment ?? 'nearest';
  if ((config.target ?? 'student') !== 'student') throw new InputError('target', config.target, "'student' (distillBlocks distils the blocks of a chain, reflowTeacher reflows a teacher)");
  if (objective === 'imle' && assignment === 'matching' && m < config.cache.k) {
    throw new InputError('objective.m', m, `at least K = ${config.cache.k} with assignment 'matching' (each teacher sample gets a student sample of its own)`);
  }
  const anchorOptions = config.student.anchors;
  if (anchorOptions && objective !== 'imle') throw new InputError('objective.kind', objective, "'imle' with student.anchors (the anchors are the IMLE objective's m samples)");
  if (anchorOptions && m !== anchorOptions.count) throw new InputError('objective.m', m, `student.anchors.count = ${anchorOptions.count} (with anchors, each observation's m student samples are the anchors)`);
  const setup = await openDistillation(config, options);
  const { runDir, files, signal, teacherPath, teacherDigest, checkpoint: t0, teacher, identity, state, datasetPath, trainEpisodes, visitedWindows, jitteredWindows, conds, N, C, D } = setup;
  const tc = teacher.config;
  const anchorsSpec = anchorOptions && { count: anchorOptions.count, hidden: anchorOptions.hidden, layers: anchorOptions.layers };
  const studentConfig = studentConfigFor(tc, { latentDim: config.student.latentDim, net: config.student.net, anchors: anchorsSpec });
  const L = latentDimOf(studentConfig);
  let init: WeightMap | null = null;
  try {
    init = setup.init ? initialStudentWeights(setup.init, studentConfig, t0.stats) : null;
  } catch (err) {
    teacher.dispose();
    throw err;
  }
  if (!init && config.student.warmStart && !isDeepStrictEqual(studentConfig.net, tc.net)) {
    teacher.dispose();
    throw new InputError('student.warmStart', true, `false when student.net differs from the teacher's network ${JSON.stringify(tc.net)} (the teacher's weights fit only its own)`);
  }
  if (objective === 'pairs' && L !== D) {
    teacher.dispose();
    throw new InputError('student.latentDim', L, `the chunk size ${D} (objective 'pairs' feeds the student the teacher's own noise)`);
  }
  let sampler: SamplingTeacher;
  try {
    if (teacher instanceof StudentPolicy) {
      sampler = refinedStudentSampler(teacher, teacherPath);
      assertCacheSolverUnset(config, 'with a refined student as the teacher (it makes two network calls, no ODE solve)');
    } else sampler = teacher;
  } catch (err) {
    teacher.dispose();
    throw err;
  }

  // Teacher samples, drawn once (resumable).
  const K = config.cache.k;
  const { cacheDir, cache } = await openDistillationCache(setup, config, hooks, sampler);
  const t = config.train;
  // An LFM chain's trunk is its free block N: like the student's latent, its t = 0 end is N(0, I). A refined
  // student's is its own trunk (its refining net is dropped: the student learns its correction).
  const trunk = teacher instanceof LocalFlowPolicy ? { params: teacher.blocks[teacher.numBlocks - 1], chunkSize: teacher.chunkSize } : teacher;
  const initialWeights = init ?? (config.student.warmStart ? StudentPolicy.warmStartWeights(trunk, L, t.seed) : null);
  teacher.dispose();
  if (!cache) return stoppedInCache(setup, config, cacheDir);
  const samples = cache.samples;
  const pairNoise = objective === 'pairs' ? segmentedCacheNoise(cache.specs) : null;

  // The trunk trains; an anchored student's gate is fitted after the last step (until then: uniform).
  const trunkConfig = { ...studentConfig, anchors: undefined };
  const student = initialWeights
    ? new StudentPolicy(trunkConfig, t0.stats, initialWeights, { trainable: true, seed: t.seed })
    : StudentPolicy.initialize(trunkConfig, t0.stats, t.seed);
  const net = student.net;
  const params = student.params;
  const gateNet = anchorsSpec ? new GateNet(anchorsSpec, C, L) : null;
  const anchors = anchorOptions ? new Rng(anchorOptions.seed).fillNormal(new Float32Array(anchorOptions.count * L)) : null;
  let gateWeights = gateNet && anchors ? gateNet.initialWeights(anchors, new Rng(anchorOptions!.fit.seed)) : null;
  let gateMeta: Record<string, unknown> | null = gateNet ? { fitted: false } : null;
  const loop = new OptimizationLoop({ registry: net.registry, params, options: t, metricsPath: files.metrics, resumeFrom: state, onRecord: hooks.onRecord });
  const { rng, ema } = loop;
  const startStep = loop.startStep;

  const B = t.batchSize;
  const rowsFwd = objective === 'imle' ? B * m : B * K;
  const idx = new Int32Array(B);
  const z = new Float32Array(rowsFwd * L);
  // With anchors every observation's m latents are the same M anchors, laid out once.
  if (anchors) for (let b = 0; b < B; b++) z.set(anchors, b * m * L);
  const zCond = new Float32Array(rowsFwd * C);
  const y = new Float32Array(B * K * D);

  const checkpointWeights = (trunkWeights: WeightMap): WeightMap => {
    for (const [name, w] of gateWeights ?? []) trunkWeights.set(GATE_PREFIX + name, w);
    return trunkWeights;
  };
  const save = (step: number): void => {
    saveCheckpoint(files.checkpoint, {
      config: studentConfig,
      stats: t0.stats,
      weights: checkpointWeights(ema.toWeights()),
      meta: {
        step,
        backend: activeBackend()?.name ?? tf.getBackend(),
        dataset: datasetPath,
        teacher: teacherPath,
        teacherSha256: teacherDigest,
        objective,
        k: K,
        m,
        epsilon,
        assignment,
        trainLoss: loop.lastTrainLoss,
        ...(setup.init ? { init: setup.init.path } : {}),
        ...(gateMeta ? { gate: gateMeta } : {}),
      },
    });
    saveTrainState(files.state, loop.trainState(step, identity));
    hooks.onSave?.({ step, checkpointPath: files.checkpoint });
  };

  hooks.onStart?.({
    startStep,
    totalSteps: t.steps,
    teacherPath,
    trainEpisodes,
    windows: N,
    visitedWindows,
    jitteredWindows,
    parameters: net.registry.count(),
    studentConfig,
    cacheDir,
  });

  const { step, interrupted } = await loop.run({
    what: 'distillation',
    runDir,
    signal,
    onStep: hooks.onStep,
    save,
    batch: () => {
      for (let b = 0; b < B; b++) idx[b] = rng.int(N);
      for (let b = 0; b < B; b++) y.set(samples.subarray(idx[b] * K * D, (idx[b] + 1) * K * D), b * K * D);
      const per = rowsFwd / B;
      for (let b = 0; b < B; b++) {
        const c = conds.subarray(idx[b] * C, (idx[b] + 1) * C);
        for (let j = 0; j < per; j++) zCond.set(c, (b * per + j) * C);
      }
      if (!anchors) rng.fillNormal(z);

      if (objective === 'imle') {
        // The student's m samples per observation, without gradient; each teacher sample picks its nearest.
        const sOut = tf.tidy(() => net.apply(params, tf.tensor2d(z, [rowsFwd, L]), tf.tensor2d(zCond, [rowsFwd, C])));
        const s = sOut.dataSync();
        sOut.dispose();
        const dims = { batch: B, m, k: K, dim: D };
        const selection = imleSelect(s, y, dims, epsilon, assignment);
        const rows = selectedRows(selection, dims);
        const nV = selection.valid;
        let distinct = 0;
        for (let b = 0; b < B; b++) {
          const seen = new Set<number>();
          for (let q = 0; q < K; q++) if (selection.index[b * K + q] >= 0) seen.add(selection.index[b * K + q]);
          distinct += seen.size;
        }
        const zs = new Float32Array(Math.max(1, nV) * L);
        const cs = new Float32Array(Math.max(1, nV) * C);
        const ys = new Float32Array(Math.max(1, nV) * D);
        for (let r = 0; r < nV; r++) {
          const sr = rows.student[r];
          zs.set(z.subarray(sr * L, (sr + 1) * L), r * L);
          cs.set(zCond.subarray(sr * C, (sr + 1) * C), r * C);
          ys.set(y.subarray(rows.teacher[r] * D, (rows.teacher[r] + 1) * D), r * D);
        }
        const n = Math.max(1, nV);
        const zT = tf.tensor2d(zs, [n, L]);
        const cT = tf.tensor2d(cs, [n, C]);
        const yT = tf.tensor2d(ys, [n, D]);
        // No pair left after rejection: a zero loss (zero gradient) keeps the step count and schedule.
        const loss = nV > 0 ? () => meanRowDistance(net.apply(params, zT, cT), yT) : () => tf.mul(tf.sum(net.apply(params, zT, cT)), 0) as tf.Scalar;
        return { loss, tensors: [zT, cT, yT], metrics: { distinctSelected: distinct / B } };
      }
      if (pairNoise) for (let b = 0; b < B; b++) z.set(pairNoise.subarray(idx[b] * K * D, (idx[b] + 1) * K * D), b * K * D);
      const zT = tf.tensor2d(z, [rowsFwd, L]);
      const cT = tf.tensor2d(zCond, [rowsFwd, C]);
      const yT = tf.tensor2d(y, [B * K, D]);
      const loss = objective === 'pairs' ? () => meanRowDistance(net.apply(params, zT, cT), yT) : () => regressionLoss(net.apply(params, zT, cT), yT);
      return { loss, tensors: [zT, cT, yT] };
    },
  });

  let stopped = interrupted;
  if (gateNet && anchors && !interrupted) {
    // The gate, fitted to the anchors' shares under the final (EMA) generator; then the checkpoint again, with it.
    const trunkWeights = ema.toWeights();
    const emaParams = ParamStore.fromWeights(net.registry, trunkWeights, { kind: 'constant' });
    hooks.onGateStart?.({ windows: N, anchors: anchors.length / L, steps: anchorOptions!.fit.steps });
    const shares = anchorShares(net, emaParams, anchors, conds, samples, K);
    emaParams.dispose();
    const fitted = await fitGate({ gate: gateNet, initial: gateWeights!, conds, shares, options: anchorOptions!.fit, signal, onProgress: hooks.onGateProgress });
    if (fitted) {
      gateWeights = fitted.weights;
      gateMeta = { fitted: true, valLoss: fitted.valLoss, uniformLoss: fitted.uniformLoss, targetEntropy: fitted.targetEntropy, usage: fitted.usage };
      save(step);
      hooks.onGateEnd?.({ valLoss: fitted.valLoss, uniformLoss: fitted.uniformLoss, targetEntropy: fitted.targetEntropy });
    } else stopped = true;
  }
  const result: DistillResult = {
    ...loop.result({ runDir, checkpointPath: files.checkpoint, step, interrupted: stopped, parameters: net.registry.count() + (gateNet?.registry.count() ?? 0) }),
    cache: { dir: cacheDir, builtParts: cache.builtParts, reusedParts: cache.reusedParts },
  };
  loop.dispose();
  student.dispose();
  return result;
}
