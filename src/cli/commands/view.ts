import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { BACKEND_CHOICES, useBackend } from '../../core/backend.js';
import { appendEpisodes, writeEpisodes } from '../../data/export/episode-writer.js';
import { isScriptedSpec, openPolicy, resolvePolicySource } from '../../policy/policy-source.js';
import type { Policy } from '../../policy/policy.js';
import { getTask } from '../../../sim/registry.js';
import '../../../sim/tasks.js';
import { startViewer, type RecordingInfo } from '../../../sim/viewer/server.js';
import type { TeleopEpisode } from '../../../sim/viewer/recorder.js';
import { info, printJson } from '../output.js';
import { intFlag } from '../numbers.js';

/**
 * Save teleoperated episodes as a flowpolicy dataset: the first save
 * creates it, later saves (and later sessions) append to it.
 */
async function saveTo(dir: string, episodes: TeleopEpisode[], rec: RecordingInfo): Promise<string> {
  const summary = existsSync(dir) ? await appendEpisodes(dir, episodes) : await writeEpisodes(dir, episodes, { fps: rec.fps, task: rec.task, features: rec.features });
  return `saved ${episodes.length} episode(s) to ${summary.path} (now ${summary.numEpisodes} episodes, ${summary.numFrames} frames)`;
}

export function viewCommand(): Command {
  return new Command('view')
    .description('Open a local web page that shows a simulated task live: reset by seed, teleoperate with the mouse, watch a policy, record demonstrations')
    .argument('[checkpoint]', 'policy to watch: checkpoint file (.fpk), run or preset folder, or scripted:<name> (omit for teleoperation only)')
    .option('--task <name>', 'simulated task', 'pusht')
    .option('--port <n>', 'port on 127.0.0.1 (0: a free one)', '8765')
    .option('--seed <n>', 'seed of the first episode', '0')
    .option('--record <dir>', 'dataset the Save button writes teleoperated episodes to (created, or appended to)')
    .option('--backend <name>', `tensor backend for checkpoint policies: ${BACKEND_CHOICES}`)
    .option('--json', 'print {"url": ...} as one JSON object on stdout once the page is up')
    .addHelpText(
      'after',
      `
Examples:
  flowpolicy view --record data/my-demos
  flowpolicy view runs/pusht --seed 100000`,
    )
    .action(async (checkpoint: string | undefined, opts: Record<string, string | boolean | undefined>) => {
      const task = String(opts.task);
      getTask(task);
      const port = intFlag(opts.port, '--port', 0, 65535);
      const seed = intFlag(opts.seed, '--seed', 0);
      const record = opts.record === undefined ? undefined : String(opts.record);
      let policy: Policy | undefined;
      if (checkpoint !== undefined) {
        const source = resolvePolicySource(checkpoint);
        if (!isScriptedSpec(source)) await useBackend(opts.backend as string | undefined);
        policy = openPolicy(source, { seed });
      }
      const viewer = await startViewer({ task, port, seed, policy, onSave: record === undefined ? undefined : (eps, rec) => saveTo(record, eps, rec) });
      if (opts.json) printJson({ url: viewer.url, task, policy: checkpoint ?? null, record: record ?? null });
      else process.stdout.write(`${viewer.url}\n`);
      info(`viewing ${task} at ${viewer.url}${record ? `; Save writes to ${record}` : ''} (Ctrl+C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await viewer.close();
      policy?.dispose();
    });
}
