import { Command } from 'commander';
import { join } from 'node:path';
import { BACKEND_CHOICES, useBackend } from '../../core/backend.js';
import { InputError } from '../../core/errors.js';
import { parseInput } from '../../core/schema.js';
import { RunConfig } from '../../train/config.js';
import { RUN_FILES, trainFlowPolicy } from '../../train/flow-trainer.js';
import { addConfigFlags, assertResumable, configFlags, deepMerge, flagValues, setPath, type ConfigShortcut } from '../config-flags.js';
import { interruptOnSigint } from '../interrupt.js';
import { backendLine, info, printJson, table } from '../output.js';
import { formatSeconds, TrainProgress } from '../progress.js';
import { readJsonFile } from '../read-json.js';
import { writeRunReport } from '../report.js';

/** Discriminators of the default variants, so a flag like --policy.net.hidden edits the default MLP. */
const BASE = { policy: { net: { kind: 'mlp' }, flow: { timeSampler: { kind: 'uniform' } } } };

/** Shortcut flags and the config path each one sets. */
const SHORTCUTS: ConfigShortcut[] = [
  ['--dataset <path>', 'dataset', 'dataset.path', 'dataset to train on (Diffusion Policy .zarr)'],
  ['--policy <net>', 'policy', 'policy.net.kind', 'network: mlp or unet1d'],
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
    .description('Train a conditional flow-matching policy on a dataset of demonstrations')
    .option('--config <file>', 'run config (JSON); flags override its fields')
    .option('--out <dir>', 'run folder (default: runs/<date>-<time>)')
    .option('--resume <dir>', 'continue the run in <dir> from its last save (train.steps may be raised)')
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
  flowpolicy train --resume runs/pusht --steps 16000`,
  );
  cmd.action(async (opts: Record<string, unknown>) => {
    const backend = await useBackend(opts.backend as string | undefined);
    const values = flagValues(opts, SHORTCUTS, fields, ['dataset.path']);

    let raw: Record<string, unknown>;
    let runDir: string;
    const resume = opts.resume !== undefined;
    if (resume) {
      runDir = String(opts.resume);
      if (opts.config !== undefined) throw new InputError('--config', opts.config, 'no --config with --resume (the run keeps its own config.json)');
      if (opts.out !== undefined && opts.out !== runDir) throw new InputError('--out', opts.out, `the resumed folder ${runDir} or nothing`);
      raw = readJsonFile(join(runDir, RUN_FILES.config), '--resume') as Record<string, unknown>;
      assertResumable(values);
    } else {
      runDir = opts.out !== undefined ? String(opts.out) : join('runs', timestamp());
      raw = deepMerge(BASE, opts.config !== undefined ? readJsonFile(String(opts.config), '--config') : {}) as Record<string, unknown>;
    }
    for (const [path, value] of values) setPath(raw, path, value);
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
    try {
      const result = await trainFlowPolicy(config, {
        runDir,
        resume,
        hooks: {
          signal: interrupt.signal,
          onStart: (s) => {
            info(
              `dataset: ${config.dataset.path}: ${s.trainEpisodes} training / ${s.valEpisodes} validation episodes, ${s.trainWindows} / ${s.valWindows} windows`,
            );
            info(`policy: ${s.policyConfig.net.kind}, ${s.parameters.toLocaleString('en-US')} parameters; run folder ${runDir}${s.startStep ? `, resuming at step ${s.startStep}` : ''}`);
            progress.start(s.startStep, s.totalSteps);
          },
          onStep: (s) => progress.update({ step: s.step, total: s.totalSteps, loss: s.loss, valLoss: lastVal }),
          onRecord: (r) => {
            if (typeof r.valLoss === 'number') lastVal = r.valLoss;
          },
          onSave: queueReport,
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
            ['validation loss', result.valLoss === null ? '-' : `${result.firstValLoss?.toFixed(5)} -> ${result.valLoss.toFixed(5)}`],
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
