import { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/files.js';
import { loadDataset } from '../../data/load-dataset.js';
import { createEnv, listTasks } from '../../../sim/registry.js';
import '../../../sim/tasks.js';
import { checkPolicyFitsTask } from '../../../sim/eval/policy-fit.js';
import { isScriptedSpec, openPolicy, resolvePolicySource } from '../../policy/policy-source.js';
import { recordEpisodes } from '../../../sim/record-episodes.js';
import { replayDataset } from '../../../sim/replay.js';
import { useBackend } from '../../core/backend.js';
import { writeEpisodes } from '../../data/export/episode-writer.js';
import { info, printJson, table } from '../output.js';
import { intFlag } from '../numbers.js';

/** `1,3,5-9` -> [1, 3, 5, 6, 7, 8, 9]. */
export function parseIndexList(text: string, field: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new InputError(field, text, 'indices like 0,3,5-9');
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new InputError(field, part, 'a range low-high with low <= high');
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

function replayCommand(): Command {
  return new Command('replay')
    .description("Play a dataset's recorded actions open-loop in the simulator from each episode's first state; report the pose error per step and the final coverage")
    .argument('<dataset>', 'dataset with recorded simulator states (e.g. the Diffusion Policy Push-T zarr)')
    .option('--task <name>', 'simulated task', 'pusht')
    .option('--episodes <list>', 'episodes to replay, e.g. 0-9,20 (default: all)')
    .option('--window <n>', 'steps from the start over which the median position error is taken', '20')
    .option('--out <file>', 'also write the full report (every step of every episode) as JSON')
    .option('--json', 'print the summary as one JSON object on stdout')
    .addHelpText('after', '\nExample:\n  flowpolicy sim replay ../shared/datasets/pusht_cchi_v7_replay.zarr --out runs/replay.json')
    .action(async (path: string, opts: Record<string, string | boolean | undefined>) => {
      const window = intFlag(opts.window, '--window', 1);
      const dataset = await loadDataset(path);
      const report = await replayDataset(dataset, {
        task: String(opts.task),
        window,
        episodes: opts.episodes === undefined ? undefined : parseIndexList(String(opts.episodes), '--episodes'),
        onEpisode: opts.json ? undefined : (r) => info(`episode ${r.episode}: ${r.steps} steps, final coverage ${r.finalCoverage.toFixed(3)} (recorded ${r.recordedFinalCoverage.toFixed(3)})`),
      });
      if (opts.out) writeFileAtomic(String(opts.out), `${JSON.stringify(report)}\n`);
      const summary = {
        task: report.task,
        dataset: path,
        episodes: report.episodes.length,
        positionLabel: report.positionLabel,
        window: report.window,
        medianPositionErrorFirstSteps: report.medianPositionErrorFirstSteps,
        medianFinalCoverageDifference: report.medianFinalCoverageDifference,
        meanFinalCoverage: report.meanFinalCoverage,
        meanRecordedFinalCoverage: report.meanRecordedFinalCoverage,
        meanRecordedMaxCoverage: report.meanRecordedMaxCoverage,
      };
      if (opts.json) return printJson(summary);
      process.stdout.write(
        `${table([
          ['episodes replayed', String(summary.episodes)],
          [`median ${report.positionLabel} error, first ${window} steps`, summary.medianPositionErrorFirstSteps.toFixed(3)],
          ['median |final coverage - recorded|', summary.medianFinalCoverageDifference.toFixed(4)],
          ['mean final coverage: replay / recorded', `${summary.meanFinalCoverage.toFixed(3)} / ${summary.meanRecordedFinalCoverage.toFixed(3)}`],
          ['mean max coverage of the recorded states', summary.meanRecordedMaxCoverage.toFixed(3)],
        ])}\n`,
      );
    });
}

function recordCommand(): Command {
  return new Command('record')
    .description('Run a policy (e.g. a scripted expert) on seeded episodes and write them as a dataset (observations, actions, simulator states)')
    .requiredOption('--policy <source>', 'scripted:<name>, a checkpoint file, or a run / preset folder')
    .requiredOption('--out <dir>', 'dataset to write (flowpolicy Zarr format; refuses to overwrite)')
    .option('--task <name>', 'simulated task', 'pusht')
    .option('--episodes <n>', 'episodes to record', '100')
    .option('--seed <n>', 'seed of the first episode (episode e uses seed + e)', '0')
    .option('--backend <name>', 'tensor backend for checkpoint policies')
    .option('--json', 'print a summary as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  flowpolicy sim record --task arm-reach --policy scripted:arm-reach-expert --episodes 200 --out data/arm-reach.zarr\n  flowpolicy sim record --policy runs/pusht-student --episodes 64 --seed 0 --out runs/visited.zarr   # states for distill --observations (DAgger)',
    )
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const episodes = intFlag(opts.episodes, '--episodes', 1);
      const seed = intFlag(opts.seed, '--seed', 0);
      const source = resolvePolicySource(String(opts.policy));
      if (!isScriptedSpec(source)) await useBackend(opts.backend as string | undefined);
      const env = await createEnv(String(opts.task));
      const policy = openPolicy(source);
      try {
        checkPolicyFitsTask(policy.config, env, String(opts.policy));
        const recorded = recordEpisodes(env, policy, { episodes, seed });
        const summary = await writeEpisodes(String(opts.out), recorded, { fps: env.controlHz, task: env.task });
        const successRate = recorded.filter((e) => e.success).length / recorded.length;
        if (opts.json) return printJson({ ...summary, successRate });
        process.stdout.write(`wrote ${summary.numEpisodes} episodes, ${summary.numFrames} frames to ${summary.path} (policy success rate ${(successRate * 100).toFixed(1)}%)\n`);
      } finally {
        policy.dispose();
        env.close();
      }
    });
}

export function simCommand(): Command {
  const sim = new Command('sim').description('Simulator tools: list tasks, replay datasets, record demonstrations');
  sim.addCommand(replayCommand());
  sim.addCommand(recordCommand());
  sim.addCommand(
    new Command('tasks').description('List the simulated tasks').action(() => {
      for (const t of listTasks()) process.stdout.write(`${t.name.padEnd(12)} ${t.description}\n`);
    }),
  );
  return sim;
}
