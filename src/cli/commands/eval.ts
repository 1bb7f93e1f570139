import { Command } from 'commander';
import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { evaluate } from '../../../sim/eval/evaluate.js';
import { EVAL_FILES, writeEvalHtml, writeEvalJson, writeEvalVideos } from '../../../sim/eval/eval-report.js';
import { getTask } from '../../../sim/registry.js';
import { presetOf } from '../../policy/preset.js';
import '../../../sim/tasks.js';
import { interruptOnSigint } from '../interrupt.js';
import { info, printJson, table } from '../output.js';
import { intFlag } from '../numbers.js';
import { BACKEND_CHOICES } from '../../core/backend.js';
import { REALTIME_KERNELS } from '../../policy/realtime-mlp.js';

export function evalCommand(): Command {
  return new Command('eval')
    .description("Evaluate a policy in simulation: seeded episodes in parallel workers; reports the paper's mean max reward, the success rate, episode length and policy latency")
    .argument('<policy>', 'checkpoint file (.fpk), run or preset folder, or scripted:<name>')
    .option('--task <name>', "simulated task (default: a preset's own task, else pusht)")
    .option('--episodes <n>', 'episodes to run', '50')
    .option('--seed <n>', 'seed of the first episode (episode i uses seed + i; the paper evaluates from 100000)', '100000')
    .option('--draws <n>', "draws of the policy's noise per seed (draw 0 is the standard protocol); reports the mean over all and its spread across draws", '1')
    .option('--steps <n>', "solver steps per action chunk (per block for an LFM chain; default: the checkpoint's inference solver)")
    .option('--workers <n>', 'worker threads (default: one per core)')
    .option('--videos <n>', 'GIFs of the first n episodes (rendered with headless Chromium)', '0')
    .option('--max-steps <n>', "episode cap (default: the task's, 300 for Push-T)")
    .option('--out <dir>', 'write eval.json, report.html and videos/ here')
    .option('--backend <name>', `tensor backend for checkpoint policies: ${BACKEND_CHOICES}`)
    .option('--kernel <name>', `a student's real-time kernel: ${REALTIME_KERNELS.join(', ')} (default wasm-simd, float32; wasm-int16 quantises weights and activations, faster)`)
    .option('--json', 'print the summary as one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  flowpolicy eval policies/pusht-state
  flowpolicy eval policies/pusht-state/teacher.fpk --episodes 50 --workers 2
  flowpolicy eval runs/pusht --episodes 50 --seed 100000 --out runs/pusht/eval --videos 4
  flowpolicy eval policies/pusht-state --draws 8
  flowpolicy eval policies/pusht-state/teacher.fpk --steps 4
  flowpolicy eval scripted:pusht-pusher --episodes 10`,
    )
    .action(async (policy: string, opts: Record<string, string | boolean | undefined>) => {
      const task = opts.task === undefined ? (presetOf(policy)?.config.task ?? 'pusht') : String(opts.task);
      getTask(task);
      const episodes = intFlag(opts.episodes, '--episodes', 1);
      const videos = intFlag(opts.videos, '--videos', 0);
      const draws = intFlag(opts.draws, '--draws', 1);
      if (videos > 0 && !opts.out) throw new InputError('--videos', opts.videos, '0 unless --out <dir> is given (videos are written there)');
      const interrupt = interruptOnSigint('stopping the evaluation workers');
      try {
        const { summary, results } = await evaluate({
          policy,
          task,
          episodes,
          draws,
          solverSteps: opts.steps === undefined ? undefined : intFlag(opts.steps, '--steps', 1),
          seed: intFlag(opts.seed, '--seed', 0),
          workers: opts.workers === undefined ? undefined : intFlag(opts.workers, '--workers', 1),
          maxSteps: opts.maxSteps === undefined ? undefined : intFlag(opts.maxSteps, '--max-steps', 1),
          recordEpisodes: videos,
          backend: opts.backend as string | undefined,
          kernel: opts.kernel as string | undefined,
          signal: interrupt.signal,
          onEpisode: opts.json ? undefined : (r, done) => info(`[${done}/${episodes * draws}] seed ${r.seed}${draws > 1 ? `, draw ${r.draw ?? 0}` : ''}: max reward ${r.maxReward.toFixed(3)}${r.success ? ', success' : ''}, ${r.steps} steps`),
        });
        if (opts.out) {
          const dir = String(opts.out);
          writeEvalJson(dir, summary, results);
          const gifs = await writeEvalVideos(dir, task, results, summary.controlHz);
          writeEvalHtml(dir, summary, results, gifs);
          if (!opts.json) info(`wrote ${join(dir, EVAL_FILES.json)}, ${join(dir, EVAL_FILES.html)}${gifs.length ? ` and ${gifs.length} videos` : ''}`);
        }
        if (opts.json) return printJson(summary);
        process.stdout.write(
          `${table([
            ['task, policy', `${summary.task}, ${summary.policy}`],
            ['episodes (seeds)', `${summary.episodes} (${summary.firstSeed}-${summary.firstSeed + summary.episodes - 1})`],
            ['mean max reward', summary.meanMaxReward.toFixed(3)],
            ['success rate', `${(summary.successRate * 100).toFixed(1)}%`],
            ...(summary.draws > 1
              ? ([
                  ['noise draws per seed', `${summary.draws}: mean max reward sd ${summary.meanMaxRewardSd.toFixed(3)} across draws`],
                  ['draw 0 (standard protocol)', `${summary.byDraw[0].meanMaxReward.toFixed(3)}, ${(summary.byDraw[0].successRate * 100).toFixed(1)}% success`],
                ] as [string, string][])
              : []),
            ['mean episode length', summary.meanEpisodeLength.toFixed(1)],
            ['policy latency p50 / p99', `${summary.latencyMsP50.toFixed(2)} / ${summary.latencyMsP99.toFixed(2)} ms`],
            ['backend', `${summary.backend}${summary.kernel ? `, real-time kernel ${summary.kernel}` : ''}`],
            ['wall time', `${summary.wallSeconds.toFixed(1)} s, ${summary.workers} workers`],
          ])}\n`,
        );
      } finally {
        interrupt.release();
      }
    });
}
