import { useBackend } from '../core/backend.js';
import type { Policy } from '../policy/policy.js';
import { isScriptedSpec, openPolicy, type OpenPolicyOptions } from '../policy/policy-source.js';
import './scripted-policy.js';

/**
 * A policy from what a user names on the command line (see
 * policy/policy-source.ts), with the joint-space test policies of
 * scripted-policy.ts registered and, for a checkpoint, a tensor backend
 * selected first (this runs inside the inference worker too).
 */
export async function createPolicy(spec: string, options: OpenPolicyOptions & { backend?: string } = {}): Promise<Policy> {
  if (!isScriptedSpec(spec)) await useBackend(options.backend);
  return openPolicy(spec, { seed: options.seed, kernel: options.kernel });
}
