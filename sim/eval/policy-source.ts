import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../src/core/errors.js';
import { loadPolicy } from '../../src/policy/checkpoint.js';
import type { Policy } from '../../src/policy/policy.js';
import type { Env } from '../env.js';
import { getScriptedPolicy } from '../scripted-policies.js';

/**
 * Where a policy comes from, as a string that can cross into a worker
 * thread: `scripted:<name>`, a checkpoint file, or a folder holding one
 * (a run folder's `checkpoint.fpk`, or a preset's `policy.fpk`).
 */
export function resolvePolicySource(source: string): string {
  if (source.startsWith('scripted:')) {
    getScriptedPolicy(source.slice('scripted:'.length));
    return source;
  }
  if (!existsSync(source)) throw new InputError('policy', source, 'a checkpoint file (.fpk), a run or preset folder, or scripted:<name>');
  if (!statSync(source).isDirectory()) return source;
  for (const name of ['policy.fpk', 'checkpoint.fpk']) if (existsSync(join(source, name))) return join(source, name);
  throw new InputError('policy', source, 'a folder with policy.fpk (preset) or checkpoint.fpk (run)');
}

/** Build the policy a resolved source names. Checkpoints need a tensor backend selected first. */
export function openPolicy(source: string, seed?: number): Policy {
  if (source.startsWith('scripted:')) return getScriptedPolicy(source.slice('scripted:'.length)).create();
  return loadPolicy(source, { seed }).policy;
}

/**
 * Refuse a policy that cannot run on a task: every observation feature it
 * reads must be one the env produces, with the same shape, and its action
 * size must be the env's. Checked before any episode runs, so a mismatch is
 * one clear error, not a crash in a worker.
 */
export function checkPolicyFitsTask(policy: Policy, env: Env, source: string): void {
  const io = policy.config;
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
