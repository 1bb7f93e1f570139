import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.js';
import { loadPolicy, readCheckpoint } from './checkpoint.js';
import type { Policy, PolicyIO } from './policy.js';
import { PRESET_FILE, readPreset } from './preset.js';
import { REALTIME_KERNELS, type RealtimeKernel } from './realtime-mlp.js';
import { kernelRefused, offRealtimePath } from './student-config.js';

/**
 * Where a policy comes from, as one string a user types and a worker
 * thread can be handed: a checkpoint file, a folder holding one (a preset's
 * `policy.fpk`, a run's `checkpoint.fpk`), or `scripted:<name>[?key=value&...]`
 * for the hand-written policies that tasks and the ROS bridge register
 * (experts, test trajectories). Every command that takes a policy resolves
 * it here.
 */

export interface ScriptedPolicyDefinition {
  name: string;
  description: string;
  /** The simulated task it is written for, if any. */
  task?: string;
  /** Whether it takes `?key=value` parameters (it is handed the whole spec to parse). */
  parameters?: boolean;
  create(spec: string): Policy;
}

const SCRIPTED_PREFIX = 'scripted:';
/** Checkpoint names looked for in a folder, in order. */
const CHECKPOINT_NAMES = ['policy.fpk', 'checkpoint.fpk'];

const scripted = new Map<string, ScriptedPolicyDefinition>();

/** Make `scripted:<name>` available (modules register their policies when they load). */
export function registerScriptedPolicy(definition: ScriptedPolicyDefinition): void {
  if (scripted.has(definition.name)) throw new Error(`scripted policy '${definition.name}' is registered twice`);
  scripted.set(definition.name, definition);
}

export function listScriptedPolicies(): ScriptedPolicyDefinition[] {
  return [...scripted.values()];
}

export function isScriptedSpec(spec: string): boolean {
  return spec.startsWith(SCRIPTED_PREFIX);
}

/** The registered definition a `scripted:` spec names; parameters given to one that takes none are refused. */
export function getScriptedPolicy(spec: string, field = 'policy'): ScriptedPolicyDefinition {
  const [name, query] = spec.slice(SCRIPTED_PREFIX.length).split('?', 2);
  const def = scripted.get(name);
  if (!def) throw new InputError(field, spec, `one of ${[...scripted.keys()].map((n) => SCRIPTED_PREFIX + n).join(', ') || '(no scripted policies registered)'}, or a checkpoint`);
  if (query && !def.parameters) throw new InputError(field, spec, `${SCRIPTED_PREFIX}${name} without parameters (it takes none)`);
  return def;
}

/** A checkpoint file, or the checkpoint in a preset (the one its preset.json names) or run folder. */
export function resolveCheckpointPath(path: string, field = 'policy'): string {
  if (!existsSync(path)) throw new InputError(field, path, 'an existing checkpoint file (.fpk), a preset or run folder, or scripted:<name>');
  if (!statSync(path).isDirectory()) return path;
  const preset = readPreset(path);
  if (preset) return preset.path(preset.config.policy);
  for (const name of CHECKPOINT_NAMES) if (existsSync(join(path, name))) return join(path, name);
  throw new InputError(field, path, `a folder holding ${PRESET_FILE} or ${CHECKPOINT_NAMES.join(' (a preset) or ')} (a training run)`);
}

/** Check a policy spec without building it: a registered scripted policy, or the path of an existing checkpoint. */
export function resolvePolicySource(spec: string, field = 'policy'): string {
  if (isScriptedSpec(spec)) {
    getScriptedPolicy(spec, field);
    return spec;
  }
  return resolveCheckpointPath(spec, field);
}

/** What a spec's policy reads and writes, without building it (a checkpoint's config is read, no tensors made). */
export function policyIoOf(spec: string): PolicyIO & { kind: string } {
  if (isScriptedSpec(spec)) {
    const policy = getScriptedPolicy(spec).create(spec);
    const io = policy.config;
    policy.dispose();
    return io;
  }
  return readCheckpoint(resolveCheckpointPath(spec)).config;
}

export interface OpenPolicyOptions {
  seed?: number;
  /** The kernel of a student's real-time path (an MLP student only; see RealtimeKernel). */
  kernel?: RealtimeKernel;
}

/**
 * The kernel a spec's policy runs on: `kernel` when given, else the
 * preset's own (preset.json `kernel`) when the spec is a preset folder,
 * else undefined (the default). A kernel the policy cannot use is refused,
 * from its config alone (before any worker is started): only an MLP
 * student has a real-time path.
 */
export function checkKernelOption(spec: string, given: string | undefined): RealtimeKernel | undefined {
  const kernel = kernelOf(spec, given);
  if (kernel === undefined || isScriptedSpec(spec)) return kernel;
  const off = offRealtimePath(readCheckpoint(resolveCheckpointPath(spec)).config);
  if (off) throw kernelRefused(kernel, spec, off);
  return kernel;
}

/** The kernel asked for, or the preset's; checked against the kernels there are (not yet against the policy). */
function kernelOf(spec: string, given: string | undefined): RealtimeKernel | undefined {
  if (isScriptedSpec(spec)) {
    if (given !== undefined) throw kernelRefused(given, spec, 'a scripted policy');
    return undefined;
  }
  const kernel = given ?? readPreset(spec)?.config.kernel;
  if (kernel !== undefined && !(REALTIME_KERNELS as readonly string[]).includes(kernel)) throw new InputError('kernel', kernel, `one of ${REALTIME_KERNELS.join(', ')}`);
  return kernel as RealtimeKernel | undefined;
}

/**
 * Build the policy a spec names. Checkpoints load on the active tensor
 * backend (select one first); a kernel the policy cannot use is refused by
 * loadPolicy, which reads the checkpoint once.
 */
export function openPolicy(spec: string, options: OpenPolicyOptions = {}): Policy {
  const kernel = kernelOf(spec, options.kernel);
  if (isScriptedSpec(spec)) return getScriptedPolicy(spec).create(spec);
  return loadPolicy(resolveCheckpointPath(spec), { seed: options.seed, kernel }).policy;
}
