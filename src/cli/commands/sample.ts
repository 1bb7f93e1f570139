import { Command } from 'commander';
import { BACKEND_CHOICES, useBackend } from '../../core/backend.js';
import { InputError } from '../../core/errors.js';
import { SOLVERS } from '../../flow/ode.js';
import { loadPolicy } from '../../policy/checkpoint.js';
import { LocalFlowPolicy } from '../../policy/local-flow-policy.js';
import { resolveCheckpointPath } from '../../policy/policy-source.js';
import type { ObservationFrame } from '../../policy/policy.js';
import { info, printJson } from '../output.js';
import { readJsonArg } from '../read-json.js';
import { intFlag } from '../numbers.js';

export function sampleCommand(): Command {
  return new Command('sample')
    .description('Run a checkpoint on an observation and print the action chunk')
    .argument('<checkpoint>', 'checkpoint file (.fpk), or a run or preset folder (its checkpoint)')
    .requiredOption('--obs <json>', 'observation: a frame {"feature": [values], ...} or an array of To frames; inline JSON, @file.json or - (stdin)')
    .option('--seed <n>', 'seed of the initial noise', '0')
    .option('--noise <json>', 'explicit initial noise (horizon x action dim values) instead of a seeded draw')
    .option('--solver <name>', `ODE solver: ${SOLVERS.join(', ')} (default: the checkpoint's)`)
    .option('--steps <n>', 'solver steps (fixed-step solvers)')
    .option('--backend <name>', `tensor backend: ${BACKEND_CHOICES} (env FLOWPOLICY_BACKEND)`)
    .option('--json', 'print one JSON object on stdout')
    .addHelpText(
      'after',
      `
Example:
  flowpolicy sample runs/pusht/checkpoint.fpk --obs '{"observation.environment_state": [...18 values], "observation.state": [256, 256]}'`,
    )
    .action(async (checkpoint: string, opts: Record<string, string | boolean | undefined>) => {
      const backend = await useBackend(opts.backend as string | undefined);
      const seed = intFlag(opts.seed, '--seed');
      if (opts.solver !== undefined && !(SOLVERS as readonly string[]).includes(String(opts.solver))) {
        throw new InputError('--solver', opts.solver, `one of ${SOLVERS.join(', ')}`);
      }
      const obs = readJsonArg(String(opts.obs), '--obs') as ObservationFrame | ObservationFrame[];
      const noise = opts.noise !== undefined ? readJsonArg(String(opts.noise), '--noise') : undefined;
      if (noise !== undefined && !(Array.isArray(noise) && noise.every((v) => typeof v === 'number'))) {
        throw new InputError('--noise', opts.noise, 'a JSON array of numbers');
      }
      const { policy } = loadPolicy(resolveCheckpointPath(checkpoint, 'checkpoint'), { seed });
      const solver = {
        ...(opts.solver !== undefined ? { method: opts.solver as (typeof SOLVERS)[number] } : {}),
        ...(opts.steps !== undefined ? { steps: intFlag(String(opts.steps), '--steps', 1) } : {}),
      };
      const chunk = policy.act(obs, { noise: noise as number[] | undefined, solver });
      const rows = Array.from({ length: chunk.horizon }, (_, i) => Array.from(chunk.actions.subarray(i * chunk.actionDim, (i + 1) * chunk.actionDim)));
      if (policy.config.kind === 'student' && Object.keys(solver).length > 0) {
        throw new InputError(opts.solver !== undefined ? '--solver' : '--steps', opts.solver ?? opts.steps, 'no solver option for a one-step student checkpoint');
      }
      const used = policy.config.kind === 'student' ? { method: policy.config.refine ? `student refined from t = ${policy.config.refine.time}` : 'one-step student', steps: 1 } : { ...policy.config.inference, ...solver };
      const blocks = policy instanceof LocalFlowPolicy ? ` per block, ${policy.numBlocks} LFM blocks` : '';
      if (opts.json) {
        printJson({
          actions: rows,
          start: chunk.start,
          execute: chunk.execute,
          horizon: chunk.horizon,
          actionDim: chunk.actionDim,
          solver: used.method,
          steps: used.method === 'dopri5' ? null : used.steps,
          nfe: chunk.nfe,
          latencyMs: chunk.latencyMs,
          backend: backend.name,
        });
      } else {
        info(`backend: ${backend.detail}`);
        process.stdout.write(`action chunk ${chunk.horizon} x ${chunk.actionDim} (${policy.config.action.key}); rows marked * run now (${chunk.start}..${chunk.start + chunk.execute - 1})\n`);
        rows.forEach((r, i) => {
          const now = i >= chunk.start && i < chunk.start + chunk.execute ? '*' : ' ';
          process.stdout.write(`${now}${String(i).padStart(3)}  ${r.map((v) => v.toFixed(3).padStart(10)).join(' ')}\n`);
        });
        process.stdout.write(`${used.method}${used.method === 'dopri5' ? '' : `, ${used.steps} steps`}${blocks}, ${chunk.nfe} network calls, ${chunk.latencyMs.toFixed(2)} ms\n`);
      }
      policy.dispose();
    });
}
