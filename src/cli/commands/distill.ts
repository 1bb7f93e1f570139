import { Command } from 'commander';
import { join } from 'node:path';
import { BACKEND_CHOICES, useBackend } from '../../core/backend.js';
import { InputError } from '../../core/errors.js';
import { parseInput } from '../../core/schema.js';
import { DistillConfig } from '../../train/distill-config.js';
import { distillBlocks } from '../../train/block-distill-trainer.js';
import { DISTILL_FILES, distillStudent, teacherDataset } from '../../train/distill-trainer.js';
import { resolveCheckpointPath } from '../../policy/policy-source.js';
import { reflowTeacher } from '../../train/reflow-trainer.js';
import { addConfigFlags, assertResumable, configFlags, deepMerge, flagValues, setPath, type ConfigShortcut } from '../config-flags.js';
import { interruptOnSigint } from '../interrupt.js';
import { backendLine, info, printJson, table } from '../output.js';
import { formatSeconds, TrainProgress } from '../progress.js';
import { readJsonFile } from '../read-json.js';

/** Shortcut flags and the config path each one sets. */
const SHORTCUTS: ConfigShortcut[] = [
  ['--k <n>', 'k', 'cache.k', 'teacher samples per training observation (default 8)'],
  ['--target <what>', 'target', 'target', 'student (default): one one-step student; blocks: each block of an LFM chain to one step (N network calls); reflow: a straighter flow teacher for few-step sampling'],
  ['--objective <kind>', 'objective', 'objective.kind', "imle (default), pairs (the teacher's own noise-to-sample pairs) or regression (negative control)"],
  ['--m <n>', 'm', 'objective.m', 'student samples per observation (default 16)'],
  ['--assignment <rule>', 'assignment', 'objective.assignment', 'IMLE: nearest (default) or matching (one student sample per teacher sample; m >= K)'],
  ['--epsilon <r>', 'epsilon', 'objective.epsilon', 'IMLE rejection radius, normalised units (default 0: off)'],
  ['--latent-dim <n>', 'latentDim', 'student.latentDim', 'latent size (default: the chunk size)'],
  ['--anchors <n>', 'anchors', 'student.anchors.count', 'a discrete latent of n anchors drawn by a gate (sets --m to n unless given)'],
  ['--init <student>', 'init', 'student.init', 'a one-step student (.fpk or run folder) to start from instead of the teacher'],
  ['--teacher-steps <n>', 'teacherSteps', 'cache.solver.steps', 'teacher ODE steps for the cache (default 100 Euler)'],
  ['--dataset <path>', 'dataset', 'dataset.path', "dataset to distil on (default: the teacher run's)"],
  ['--steps <n>', 'steps', 'train.steps', 'optimizer steps'],
  ['--batch-size <n>', 'batchSize', 'train.batchSize', 'observations per step'],
  ['--lr <lr>', 'lr', 'train.lr', 'peak learning rate'],
  ['--seed <n>', 'seed', 'train.seed', 'seed of latents, batches and the latent projection'],
];

/** Config paths that may name a new location on --resume (the run checks what they hold). */
const RELOCATABLE = ['dataset.path', 'observations', 'cache.dir', 'student.init'];

/** What each distillation target runs. */
const TRAINERS = { student: distillStudent, blocks: distillBlocks, reflow: reflowTeacher } as const;

/** Config fields given as shortcuts are not repeated as dotted flags. */
const FIELD_FLAGS = configFlags(DistillConfig).filter((f) => f.path !== 'teacher' && !SHORTCUTS.some(([, , path]) => path === f.path));

/**
 * The config of a run being resumed: its config.json with the teacher at
 * the given path and the moved inputs' new locations (the run checks what
 * they hold, not where: see runIdentity). Consumes the location flags it
 * applies from `values`; any other change is refused.
 */
function resumedConfig(raw: Record<string, unknown>, teacherArg: string, values: [string, unknown][]): Record<string, unknown> {
  const take = (path: string): unknown => {
    const i = values.findIndex(([p]) => p === path);
    return i < 0 ? undefined : values.splice(i, 1)[0][1];
  };
  assertResumable(values, raw, RELOCATABLE);
  const out: Record<string, unknown> = { ...raw, teacher: teacherArg };
  if (raw.dataset === undefined && values.some(([p]) => p === 'dataset.path')) {
    // The run took its windows from its teacher's dataset: the same split settings, at the new path.
    const { valRatio, maxTrainEpisodes, splitSeed } = teacherDataset(resolveCheckpointPath(teacherArg, 'teacher'));
    out.dataset = { path: take('dataset.path'), valRatio, maxTrainEpisodes, splitSeed };
  }
  const moved = values.find(([p]) => p === 'observations')?.[1];
  if (typeof moved === 'string' && Array.isArray(raw.observations)) {
    // Plain paths re-point the recorded sets, which keep their other fields (every).
    const paths = moved.split(',');
    if (paths.length !== raw.observations.length) throw new InputError('--observations', moved, `${raw.observations.length} paths, one for each set of observations of the resumed run`);
    take('observations');
    out.observations = raw.observations.map((o: unknown, i) => ({ ...(o as object), path: paths[i] }));
  }
  return out;
}

export function distillCommand(): Command {
  const cmd = new Command('distill')
    .description('Distil a flow-matching teacher or an LFM chain into a one-step student (IMLE): one network call per action chunk; or each block of an LFM chain to one step; or reflow a teacher into a straighter flow')
    .argument('<teacher>', 'teacher checkpoint (.fpk) or its run folder: a flow policy, an LFM chain (sampled through all its blocks), or a refined student (flowpolicy refine: its two calls learned in one)')
    .requiredOption('--out <dir>', 'run folder of the student')
    .option('--resume', 'continue the distillation in --out from its last save (train.steps may be raised; a run moved with its teacher and data takes their new paths: <teacher>, --dataset, --observations, --cache.dir)')
    .option('--config <file>', 'distillation config (JSON); flags override its fields')
    .option('--backend <name>', `tensor backend: ${BACKEND_CHOICES} (env FLOWPOLICY_BACKEND)`)
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--no-progress', 'no progress output on stderr');
  addConfigFlags(cmd, SHORTCUTS, FIELD_FLAGS);
  cmd.addHelpText(
    'after',
    `
The teacher's samples (K per training observation, many ODE steps) are drawn
once into <out>/teacher-cache, resumably; the student G(z, obs) then learns
by IMLE to put one of its m samples near each of them. An LFM teacher is
sampled through its whole chain (--teacher-steps per block) and the student
starts from its free block N. With --target blocks, the chain's intermediate
points are cached instead and each block learns to reach its output in one
Euler step: the result is an LFM checkpoint of N network calls. With
--target reflow, the teacher's network is retrained on its own cached
(noise, sample) pairs along straight lines: a flow teacher whose few-step
samples are close to its many-step ones, to evaluate with --steps or to
distil a student from.

Examples:
  flowpolicy distill runs/pusht --out runs/pusht-student
  flowpolicy distill runs/pusht/checkpoint.fpk --out runs/pusht-student --k 8 --m 20 --epsilon 0.05 --steps 5000
  flowpolicy distill runs/pusht --out runs/pusht-student --resume --steps 8000
  flowpolicy distill runs/pusht-lfm --out runs/pusht-lfm-blocks --target blocks --steps 8000
  flowpolicy distill runs/pusht --out runs/pusht-reflow --target reflow --steps 20000 --batch-size 256 --lr 1e-3
  flowpolicy distill runs/pusht-reflow --out runs/pusht-student

Closed-loop observations (DAgger): run the student in the simulator, then
distil again with the states it reached labelled by the teacher as well:
  flowpolicy sim record --policy runs/pusht-student --episodes 64 --seed 0 --out runs/visited.zarr
  flowpolicy distill runs/pusht --out runs/pusht-student-2 --observations runs/visited.zarr
  flowpolicy distill runs/pusht --out runs/pusht-student-2 --observations '[{"path": "runs/visited.zarr", "every": 2}]'

An anchored student (a discrete latent: 16 anchors, the gate fitted after the
last step to how often each anchor's chunk is nearest to the teacher's
samples), started from a one-step student:
  flowpolicy distill runs/pusht-reflow --out runs/pusht-anchors --anchors 16 --init runs/pusht-student --steps 10000

A refined student (flowpolicy refine: the student, then one teacher step) as
the teacher: its chunk for noise z (the refining step re-noised with the same
z) is what the new one-step student learns at z, starting from its trunk:
  flowpolicy distill runs/pusht-refined.fpk --out runs/pusht-collapsed --objective pairs --dataset data/pusht.zarr

Jittered copies of the training windows (each window shifted by N(0, sigma^2)
in normalised units, the same shift for its To frames), labelled by the teacher:
  flowpolicy distill runs/pusht --out runs/pusht-student-j --jitter.copies 2 --jitter.sigma 0.03`,
  );
  cmd.action(async (teacherArg: string, opts: Record<string, unknown>) => {
    const backend = await useBackend(opts.backend as string | undefined);
    const runDir = String(opts.out);
    const resume = opts.resume === true;
    const values = flagValues(opts, SHORTCUTS, FIELD_FLAGS, ['dataset.path', 'cache.dir', 'student.init']);

    let raw: Record<string, unknown>;
    const configPath = join(runDir, DISTILL_FILES.config);
    if (resume) {
      if (opts.config !== undefined) throw new InputError('--config', opts.config, 'no --config with --resume (the run keeps its own config.json)');
      raw = resumedConfig(readJsonFile(configPath, '--resume') as Record<string, unknown>, teacherArg, values);
    } else {
      raw = deepMerge({}, opts.config !== undefined ? readJsonFile(String(opts.config), '--config') : {}) as Record<string, unknown>;
      raw.teacher = teacherArg;
    }
    // --observations a.zarr,b.zarr is short for the JSON form [{"path": "a.zarr"}, {"path": "b.zarr"}].
    for (const [path, value] of values) setPath(raw, path, path === 'observations' && typeof value === 'string' ? value.split(',').map((p) => ({ path: p })) : value);
    // --anchors n: the anchors are the objective's m samples, so m follows unless the command or config sets it.
    const anchorCount = values.find(([p]) => p === 'student.anchors.count')?.[1];
    if (!resume && anchorCount !== undefined && (raw.objective as { m?: unknown } | undefined)?.m === undefined) setPath(raw, 'objective.m', anchorCount);
    const config = parseInput(DistillConfig, raw, resume ? configPath : opts.config !== undefined ? String(opts.config) : 'command line');

    const json = opts.json === true;
    const showProgress = opts.progress !== false;
    const progress = new TrainProgress(process.stderr, showProgress);
    info(backendLine(backend));
    const interrupt = interruptOnSigint('saving after this step or cache part (files are written atomically)');
    let cacheStarted = 0;
    let lastTenth = -1;
    try {
      const result = await TRAINERS[config.target ?? 'student'](config, {
        runDir,
        resume,
        signal: interrupt.signal,
        hooks: {
          onCacheStart: (c) => {
            cacheStarted = performance.now();
            info(`teacher cache: ${c.windows} observations x ${c.k} samples (${c.sampling}) in ${c.parts} parts, ${c.dir}`);
          },
          onCacheProgress: (p) => {
            const tenth = Math.floor((10 * p.part) / p.parts);
            if (!showProgress || !p.built || (tenth === lastTenth && p.part !== p.parts)) return;
            lastTenth = tenth;
            const secs = (performance.now() - cacheStarted) / 1000;
            info(`teacher cache: part ${p.part}/${p.parts} (${p.windowsDone}/${p.windows} observations, ${formatSeconds(secs)})`);
          },
          onStart: (s) => {
            const extra = [s.visitedWindows && `${s.visitedWindows} from closed-loop episodes`, s.jitteredWindows && `${s.jitteredWindows} jittered copies`].filter(Boolean);
            const breakdown = extra.length ? ` (${extra.join(', ')})` : '';
            info(`teacher: ${s.teacherPath}; ${s.trainEpisodes} training episodes, ${s.windows} observations${breakdown}`);
            const resuming = s.startStep ? `, resuming at step ${s.startStep}` : '';
            if (s.studentConfig) {
              info(
                `student: ${s.studentConfig.net.kind} trunk, latent ${s.studentConfig.latentDim}${s.studentConfig.anchors ? ` (${s.studentConfig.anchors.count} anchors and a gate)` : ''}, ${s.parameters.toLocaleString('en-US')} parameters; ${config.objective.kind} (m ${config.objective.m}, K ${config.cache.k}, epsilon ${config.objective.epsilon}, ${config.objective.assignment ?? 'nearest'}); run folder ${runDir}${resuming}`,
              );
            } else if (s.reflowConfig) {
              info(`reflow: the teacher's ${s.reflowConfig.net.kind} network, ${s.parameters.toLocaleString('en-US')} parameters, on ${s.windows * config.cache.k} (noise, sample) pairs (K ${config.cache.k}); run folder ${runDir}${resuming}`);
            } else info(`one-step blocks: ${s.blocks} blocks, ${s.parameters.toLocaleString('en-US')} parameters in all, K ${config.cache.k}; run folder ${runDir}${resuming}`);
            progress.start(s.startStep, s.totalSteps);
          },
          onStep: (s) => progress.update({ step: s.step, total: s.totalSteps, loss: s.loss, valLoss: null }),
          onGateStart: (g) => {
            progress.stop();
            info(`gate: the ${g.anchors} anchors' shares of the teacher's samples on ${g.windows} observations; fitting ${g.steps} steps`);
          },
          onGateEnd: (g) => info(`gate: held-out cross-entropy ${g.valLoss.toFixed(4)} (uniform ${g.uniformLoss.toFixed(4)}, the targets' entropy ${g.targetEntropy.toFixed(4)})`),
        },
      });
      progress.stop();
      const summary = {
        runDir,
        checkpoint: result.checkpointPath,
        backend: backend.name,
        step: result.step,
        totalSteps: result.totalSteps,
        interrupted: result.interrupted,
        parameters: result.parameters,
        trainLoss: result.trainLoss,
        cache: result.cache,
        elapsedSeconds: result.elapsedMs / 1000,
        stepsPerSecond: result.stepsPerSecond,
      };
      if (json) printJson(summary);
      else {
        process.stdout.write(
          `${table([
            ['run folder', runDir],
            ['checkpoint', result.step > 0 ? result.checkpointPath : '- (no step yet)'],
            ['teacher cache', `${result.cache.dir} (${result.cache.builtParts} parts drawn, ${result.cache.reusedParts} reused)`],
            ['steps', `${result.step}/${result.totalSteps}${result.interrupted ? ' (interrupted)' : ''}`],
            [`${{ student: config.objective.kind, blocks: 'block', reflow: 'reflow' }[config.target ?? 'student']} loss`, result.trainLoss?.toFixed(5) ?? '-'],
            ['time', `${formatSeconds(result.elapsedMs / 1000)} (${result.stepsPerSecond.toFixed(2)} steps/s on ${backend.name})`],
          ])}\n`,
        );
      }
      if (result.interrupted) {
        info(`interrupted at step ${result.step}; continue with: flowpolicy distill ${teacherArg} --out ${runDir} --resume`);
        process.exitCode = 130;
      }
    } finally {
      progress.stop();
      interrupt.release();
    }
  });
  return cmd;
}
