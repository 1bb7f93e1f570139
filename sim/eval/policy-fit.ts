import { InputError } from '../../src/core/errors.js';
import type { PolicyIO } from '../../src/policy/policy.js';
import type { Env } from '../env.js';

/**
 * Refuse a policy that cannot run on a task: every observation feature it
 * reads must be one the env produces, with the same shape, and its action
 * size must be the env's. Checked before any episode runs, so a mismatch is
 * one clear error, not a crash in a worker.
 */
export function checkPolicyFitsTask(io: PolicyIO, env: Env, source: string): void {
  for (const f of io.observation.features) {
    const space = env.observationSpec[f.key];
    if (!space) {
      throw new InputError(`policy observation feature '${f.key}'`, source, `a feature of task ${env.task}: ${Object.keys(env.observationSpec).join(', ')}`);
    }
    if (space.shape.join('x') !== f.shape.join('x')) {
      throw new InputError(`policy observation feature '${f.key}' shape`, `[${f.shape}]`, `[${space.shape}] as task ${env.task} produces`, source);
    }
  }
  if (io.action.dim !== env.actionSpec.shape[0]) {
    throw new InputError('policy action dim', io.action.dim, `${env.actionSpec.shape[0]} (task ${env.task}: ${env.actionSpec.names?.join(', ') ?? ''})`, source);
  }
}
