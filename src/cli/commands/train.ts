import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_CHOICES, useBackend } from '../../core/backend.js';
import { InputError } from '../../core/errors.js';
import { parseInput } from '../../core/schema.js';
import { RunConfig } from '../../train/config.js';
import { RUN_FILES, trainFlowPolicy, type TrainResult } from '../../train/flow-trainer.js';
import { DEFAULT_LFM_SCHEDULE } from '../../policy/lfm-config.js';
import { trainLocalFlowPolicy } from '../../train/lfm-trainer.js';
import type { RunHooks } from '../../train/optimization-loop.js';
import { addConfigFlags, assertResumable, configFlags, deepMerge, flagValues, setPath, type ConfigShortcut } from '../config-flags.js';
import { interruptOnSigint } from '../interrupt.js';
import { backendLine, info, printJson, table } from '../output.js';
import { formatSeconds, TrainProgress } from '../progress.js';
import { readJsonFile } from '../read-json.js';
import { writeRunReport } from '../report.js';

/** Discriminators of the default variants, so a flag like --policy.net.hidden edits the default MLP. */
const BASE = { policy: { net: { kind: 'mlp' }, flow: { timeSampler: { kind: 'uniform' } } } };
/**
 * An LFM schedule given in part (--blocks alone, or a kind without its
 * size) is completed with the defaults' kind and block count.
 */
function completeSchedule(raw: Record<string, unknown>): void {
  const lfm = (raw.policy as Record<string, unknown> | undefined)?.lfm as Record<string, unknown> | undefined;
  const schedule = lfm?.schedule as Record<string, unknown> | undefined;
  if (typeof schedule !== 'object' || schedule === null || Array.isArray(schedule)) return;
  schedule.kind ??= DEFAULT_LFM_SCHEDULE.kind;
  if (schedule.kind !== 'explicit') schedule.blocks ??= DEFAULT_LFM_SCHEDULE.blocks;
}

/** --policy values: the family and the network of each. */
const POLICY_CHOICES: Record<string, { kind: 'flow' | 'lfm'; net: 'mlp' | 'unet1d' }> = {
  mlp: { kind: 'flow', net: 'mlp' },
  unet1d: { kind: 'flow', net: 'unet1d' },
  'lfm-mlp': { kind: 'lfm', net: 'mlp' },
  'lfm-unet': { kind: 'lfm', net: 'unet1d' },
  'lfm-unet1d': { kind: 'lfm', net: 'unet1d' },
};

/** Shortcut flags and the config path each one sets. */
const SHORTCUTS: ConfigShortcut[] = [
  ['--dataset <path>', 'dataset', 'dataset.path', 'dataset to train on (Diffusion Policy .zarr)'],
  ['--policy <name>', 'policy', 'policy.net.kind', 'mlp or unet1d (flow matching), lfm-mlp or lfm-unet (a Local Flow Matching chain of such networks)'],
  ['--blocks <n>', 'blocks', 'policy.lfm.schedule.blocks', `LFM: number of blocks N (default ${DEFAULT_LFM_SCHEDULE.blocks}; N = 1 is flow matching)`],
  ['--steps <n>', 'steps', 'train.steps', 'optimizer steps'],
  ['--batch-size <n>', 'batchSize', 'train.batchSize', 'windows per step'],
  ['--lr <lr>', 'lr', 'train.lr', 'peak learning rate'],
  ['--seed <n>', 'seed', 'train.seed', 'seed of weights, batches and noise'],
];

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('Train a conditional flow-matching (or Local Flow Matching) policy on a dataset of demonstrations')
    .option('--config <file>', 'run config (JSON); flags override its fields')
    .option('--out <dir>', 'run folder (default: runs/<date>-<time>)')
    .option('--resume <dir>', 'continue the run in <dir> from its last save (train.steps may be raised; a run moved with its dataset takes its new path with --dataset)')
    .option('--backend <name>', `tensor backend: ${BACKEND_CHOICES} (env FLOWPOLICY_BACKEND)`)
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--no-progress', 'no progress output on stderr');
  const fields = configFlags(RunConfig);
  addConfigFlags(cmd, SHORTCUTS, fields);
  cmd.addHelpText(
    'after',
    `
Examples:
  flowpolicy train --dataset ../shared/datasets/pusht_cchi_v7_replay.zarr --out runs/pusht
  flowpolicy train --dataset data.zarr --policy unet1d --policy.net.downDims '[64,128,256]' --steps 20000
  flowpolicy train --dataset data.zarr --policy lfm-mlp --blocks 4 --policy.lfm.interpolant trigonometric --out runs/lfm
  flowpolicy train --resume runs/pusht --steps 16000
  flowpolicy train --resume moved/pusht --dataset moved/pusht_cchi_v7_replay.zarr

An LFM run trains its blocks one after another, train.steps split equally
over them, and resumes at the block and step where it stopped (its
train.steps cannot change on resume). A resumed run checks the contents of
its dataset, not its path: a run folder moved with its dataset resumes with
--dataset at the new path, and another dataset is refused.`,
  );
  cmd.action(async (opts: Record<string, unknown>) => {
    const backend = await useBackend(opts.backend as string | undefined);
    const values = flagValues(opts, SHORTCUTS, fields, ['dataset.path']).flatMap(([path, value]): [string, unknown][] => {
      if (path !== 'policy.net.kind' || opts.policy === undefined) return [[path, value]];
      const choice = POLICY_CHOICES[String(opts.policy)];
      if (!choice) throw new InputError('--policy', opts.policy, `one of ${Object.keys(POLICY_CHOICES).join(', ')}`);
      return [
        ['policy.kind', choice.kind],
        ['policy.net.kind', choice.net],
      ];
    });

    let raw: Record<string, unknown>;
    let runDir: string;
    const resume = opts.resume !== undefined;
    if (resume) {
      runDir = String(opts.resume);
      if (opts.config !== undefined) throw new InputError('--config', opts.config, 'no --config with --resume (the run keeps its own config.json)');
      if (opts.out !== undefined && opts.out !== runDir) throw new InputError('--out', opts.out, `the resumed folder ${runDir} or nothing`);
      raw = readJsonFile(join(runDir, RUN_FILES.config), '--resume') as Record<string, unknown>;
      // A run moved with its dataset takes the dataset's new path: the run checks what it holds (run-identity.ts).
      assertResumable(values, raw, ['dataset.path']);
      const recorded = (raw.dataset as { path?: unknown } | undefined)?.path;
      if (typeof recorded === 'string' && !existsSync(recorded) && !values.some(([p]) => p === 'dataset.path')) {
        throw new InputError('dataset.path', recorded, `an existing dataset (${join(runDir, RUN_FILES.config)} names it; a run moved with its dataset resumes with --dataset <its new path>)`);
      }
    } else {
      runDir = opts.out !== undefined ? String(opts.out) : join('runs', timestamp());
      raw = deepMerge(BASE, opts.config !== undefined ? readJsonFile(String(opts.config), '--config') : {}) as Record<string, unknown>;
    }
    for (const [path, value] of values) setPath(raw, path, value);
    completeSchedule(raw);
    const config = parseInput(RunConfig, raw, resume ? join(runDir, RUN_FILES.config) : opts.config !== undefined ? String(opts.config) : 'command line');

    const json = opts.json === true;
    const progress = new TrainProgress(process.stderr, opts.progress !== false);
    info(backendLine(backend));
    const interrupt = interruptOnSigint('saving the run after this step (files are written atomically)');
    let lastVal: number | null = null;
    // Reports are drawn in the background at each save; a failure there must not stop training.
    let reportError: Error | null = null;
    let reports: Promise<unknown> = Promise.resolve();
    const queueReport = (): void => {
      reports = reports.then(() => writeRunReport(runDir)).catch((err: Error) => {
        reportError = err;
      });
    };
    /** The lines a run starts with (dataset, policy, run folder, where it resumes), then the progress bar. */
    const started = (s: { trainEpisodes: number; valEpisodes: number; trainWindows: number; valWindows: number; startStep: number; totalSteps: number }, policy: string, resumedAt: string | null): void => {
      info(`dataset: ${config.dataset.path}: ${s.trainEpisodes} training / ${s.valEpisodes} validation episodes, ${s.trainWindows} / ${s.valWindows} windows`);
      info(`${policy}; run folder ${runDir}${resumedAt ? `, resuming at ${resumedAt}` : ''}`);
      progress.start(s.startStep, s.totalSteps);
    };
    const hooks: RunHooks = {
      signal: interrupt.signal,
      onStep: (s) => progress.update({ step: s.step, total: s.totalSteps, loss: s.loss, valLoss: lastVal }),
      onRecord: (r) => {
        if (typeof r.valLoss === 'number') lastVal = r.valLoss;
      },
      onSave: queueReport,
    };
    try {
      const result: TrainResult & { blocks?: number; blockValLoss?: { first: number | null; last: number | null }[] } =
        config.policy.kind === 'lfm'
          ? await trainLocalFlowPolicy(config, {
              runDir,
              resume,
              hooks: {
                ...hooks,
                onStart: (s) =>
                  started(
                    s,
                    `policy: lfm, ${s.blocks} blocks of ${s.policyConfig.net.kind} (${s.policyConfig.lfm.interpolant} interpolant, ${s.policyConfig.lfm.schedule.kind} schedule), ${s.parameters.toLocaleString('en-US')} parameters in all; steps per block ${s.blockSteps.join(', ')}`,
                    s.startStep ? `block ${s.startBlock}, step ${s.startStep}` : null,
                  ),
                onBlock: (b) => {
                  // Each block's losses are on its own pairs: the smoothed figures start again.
                  lastVal = null;
                  if (b.phase === 'push') info(`block ${b.block}/${b.blocks} trained; pushing ${b.poolRows} pool chunks through it`);
                },
              },
            })
          : await trainFlowPolicy(config, {
              runDir,
              resume,
              hooks: {
                ...hooks,
                onStart: (s) => started(s, `policy: ${s.policyConfig.net.kind}, ${s.parameters.toLocaleString('en-US')} parameters`, s.startStep ? `step ${s.startStep}` : null),
              },
            });
      progress.stop();
      await reports;
      const reportPath = await writeRunReport(runDir);
      if (reportError) info(`warning: an intermediate report failed: ${(reportError as Error).message}`);
      const summary = {
        runDir,
        checkpoint: result.checkpointPath,
        report: reportPath,
        backend: backend.name,
        step: result.step,
        totalSteps: result.totalSteps,
        interrupted: result.interrupted,
        parameters: result.parameters,
        ...(result.blocks !== undefined ? { blocks: result.blocks, blockValLoss: result.blockValLoss } : {}),
        trainLoss: result.trainLoss,
        valLoss: result.valLoss,
        firstValLoss: result.firstValLoss,
        elapsedSeconds: result.elapsedMs / 1000,
        stepsPerSecond: result.stepsPerSecond,
      };
      if (json) printJson(summary);
      else {
        process.stdout.write(
          `${table([
            ['run folder', runDir],
            ['checkpoint', result.checkpointPath],
            ['report', reportPath],
            ['steps', `${result.step}/${result.totalSteps}${result.interrupted ? ' (interrupted)' : ''}`],
            ['train loss', result.trainLoss?.toFixed(5) ?? '-'],
            ...(result.blockValLoss
              ? result.blockValLoss.map((b, i): [string, string] => [`validation loss, block ${i + 1}`, b.last === null ? '-' : `${b.first?.toFixed(5)} -> ${b.last.toFixed(5)}`])
              : [['validation loss', result.valLoss === null ? '-' : `${result.firstValLoss?.toFixed(5)} -> ${result.valLoss.toFixed(5)}`] as [string, string]]),
            ['time', `${formatSeconds(result.elapsedMs / 1000)} (${result.stepsPerSecond.toFixed(2)} steps/s on ${backend.name})`],
          ])}\n`,
        );
      }
      if (result.interrupted) {
        info(`interrupted at step ${result.step}; continue with: flowpolicy train --resume ${runDir}`);
        process.exitCode = 130;
      }
    } finally {
      progress.stop();
      interrupt.release();
    }
  });
  return cmd;
}
