import { InputError } from '../src/core/errors.js';
import type { Policy } from '../src/policy/policy.js';

/**
 * Hand-written policies, by name, so that evaluation workers, the viewer
 * and the CLI can build them from a string (`scripted:<name>`) the way they
 * load a checkpoint from a path. Each belongs to one task.
 */
export interface ScriptedPolicyDefinition {
  name: string;
  task: string;
  description: string;
  create(): Policy;
}

const scripted = new Map<string, ScriptedPolicyDefinition>();

export function registerScriptedPolicy(definition: ScriptedPolicyDefinition): void {
  if (scripted.has(definition.name)) throw new Error(`scripted policy '${definition.name}' is registered twice`);
  scripted.set(definition.name, definition);
}

export function getScriptedPolicy(name: string): ScriptedPolicyDefinition {
  const def = scripted.get(name);
  if (!def) throw new InputError('policy', `scripted:${name}`, `one of ${[...scripted.keys()].map((n) => `scripted:${n}`).join(', ') || '(none registered)'}`);
  return def;
}

export function listScriptedPolicies(): ScriptedPolicyDefinition[] {
  return [...scripted.values()];
}
