import { useBackend } from '../core/backend.js';
import { loadPolicy } from '../policy/checkpoint.js';
import type { Policy } from '../policy/policy.js';
import { createScriptedPolicy, isScriptedSpec } from './scripted-policy.js';

/**
 * A policy from what a user names on the command line: a checkpoint path,
 * or `scripted:<kind>?...` (see scripted-policy.ts).
 */
export async function createPolicy(spec: string, options: { seed?: number; backend?: string } = {}): Promise<Policy> {
  if (isScriptedSpec(spec)) return createScriptedPolicy(spec);
  await useBackend(options.backend);
  return loadPolicy(spec, { seed: options.seed }).policy;
}
