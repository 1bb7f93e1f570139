import { readFileSync, existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import { decodeContainer, encodeContainer } from '../core/container.js';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { parseInput } from '../core/schema.js';
import { FeatureStats } from '../data/normalizer.js';
import type { ParamRegistry, WeightMap } from '../nets/params.js';
import { createVelocityNet } from '../nets/velocity-net.js';
import { decodeWeights, encodeWeights, WeightRecord } from '../nets/weight-codec.js';
import { VERSION } from '../version.js';
import { FlowPolicyConfig, netDimsOf } from './config.js';
import { FlowPolicy } from './flow-policy.js';
import { LfmPolicyConfig } from './lfm-config.js';
import { chainRegistry, LocalFlowPolicy } from './local-flow-policy.js';
import { kernelRefused, offRealtimePath, StudentConfig } from './student-config.js';
import { StudentPolicy, studentNetOf, type StudentPolicyOptions } from './student-policy.js';

/**
 * Checkpoints: one file holding a policy's config, normalisation statistics
 * and weights (shape, dtype and little-endian bytes each), inside the
 * checksummed container of core/container.ts. Loading validates all of it
 * against the schema and against the network the config describes, and
 * never executes anything from the file.
 *
 * A checkpoint holds one kind of policy, named by its config's `kind`:
 * 'flow' (a flow-matching teacher), 'student' (a one-step student) or
 * 'lfm' (a Local Flow Matching chain: block n's weights under `block{n}.`).
 * Readers that need one kind pass `kind` and get a clear error naming the
 * kind found otherwise.
 */
export const CHECKPOINT_FORMAT = 'flowpolicy-checkpoint';
export const CHECKPOINT_VERSION = 1;

export const CheckpointMeta = z
  .object({
    flowpolicyVersion: z.string(),
    createdAt: z.string(),
    step: z.number().int().nonnegative().optional(),
    backend: z.string().optional(),
    dataset: z.string().optional(),
  })
  .catchall(z.unknown());
export type CheckpointMeta = z.infer<typeof CheckpointMeta>;

const CheckpointBody = z
  .object({
    config: z.record(z.string(), z.unknown()),
    stats: z.record(z.string(), FeatureStats),
    weights: WeightRecord,
    meta: CheckpointMeta,
  })
  .strict();

/** The config of every kind of policy a checkpoint can hold, told apart by `kind`. */
export const CheckpointPolicyConfig = z.discriminatedUnion('kind', [FlowPolicyConfig, StudentConfig, LfmPolicyConfig]);
export type CheckpointPolicyConfig = FlowPolicyConfig | StudentConfig | LfmPolicyConfig;
export type PolicyKind = CheckpointPolicyConfig['kind'];
type ConfigOf<K extends PolicyKind | undefined> = K extends 'flow'
  ? FlowPolicyConfig
  : K extends 'student'
    ? StudentConfig
    : K extends 'lfm'
      ? LfmPolicyConfig
      : CheckpointPolicyConfig;
type PolicyOf<K extends PolicyKind | undefined> = K extends 'flow'
  ? FlowPolicy
  : K extends 'student'
    ? StudentPolicy
    : K extends 'lfm'
      ? LocalFlowPolicy
      : FlowPolicy | StudentPolicy | LocalFlowPolicy;

const KIND_NAMES: Record<PolicyKind, string> = { flow: 'a flow-matching teacher', student: 'a one-step student', lfm: 'a Local Flow Matching chain' };

export interface CheckpointContents<C extends CheckpointPolicyConfig = CheckpointPolicyConfig> {
  config: C;
  stats: Record<string, FeatureStats>;
  weights: WeightMap;
  meta: CheckpointMeta;
}

export function encodeCheckpoint(contents: { config: CheckpointPolicyConfig; stats: Record<string, FeatureStats>; weights: WeightMap; meta?: Partial<CheckpointMeta> }): Uint8Array {
  const weights = encodeWeights(contents.weights);
  const meta: CheckpointMeta = { flowpolicyVersion: VERSION, createdAt: new Date().toISOString(), ...contents.meta };
  return encodeContainer({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION }, { config: contents.config, stats: contents.stats, weights, meta });
}

/** Write a checkpoint atomically (never a half-written file at `path`). */
export function saveCheckpoint(path: string, contents: Parameters<typeof encodeCheckpoint>[0]): void {
  writeFileAtomic(path, encodeCheckpoint(contents));
}

/**
 * Decode and validate a checkpoint. With `kind`, a checkpoint of another
 * kind is refused with an InputError naming the kind found and expected.
 */
export function decodeCheckpoint<K extends PolicyKind | undefined = undefined>(bytes: Uint8Array, path: string, options: { kind?: K } = {}): CheckpointContents<ConfigOf<K>> {
  const { body } = decodeContainer(bytes, path, CHECKPOINT_FORMAT, [CHECKPOINT_VERSION]);
  const parsed = parseInput(CheckpointBody, body, path);
  const found = parsed.config.kind;
  if (options.kind !== undefined && found !== options.kind) {
    const what = typeof found === 'string' && found in KIND_NAMES ? `${KIND_NAMES[found as PolicyKind]}` : 'an unknown kind';
    throw new InputError('config.kind', found, `'${options.kind}' (${KIND_NAMES[options.kind]}): this checkpoint holds ${what}`, path);
  }
  const config = parseInput(CheckpointPolicyConfig, parsed.config, `${path} (config)`) as ConfigOf<K>;
  return { config, stats: parsed.stats, weights: decodeWeights(parsed.weights, path), meta: parsed.meta };
}

export function readCheckpoint<K extends PolicyKind | undefined = undefined>(path: string, options: { kind?: K } = {}): CheckpointContents<ConfigOf<K>> {
  if (!existsSync(path)) throw new InputError('checkpoint', path, 'an existing checkpoint file (.fpk)');
  if (statSync(path).isDirectory()) throw new InputError('checkpoint', path, 'a checkpoint file, not a directory');
  return decodeCheckpoint(readFileSync(path), path, options);
}

/** The parameter declarations of the network a policy config describes (for checks and counts, no weights). */
export function policyRegistry(config: CheckpointPolicyConfig): ParamRegistry {
  switch (config.kind) {
    case 'student':
      return studentNetOf(config).checkpointRegistry();
    case 'lfm':
      return chainRegistry(config);
    case 'flow':
      return createVelocityNet(config.net, netDimsOf(config)).registry;
  }
}

/**
 * Load a checkpoint as a ready policy on the active backend: a FlowPolicy
 * for a teacher, a StudentPolicy for a student, a LocalFlowPolicy for an
 * LFM chain. `kind` requires one of them (a checkpoint of another kind is
 * an InputError naming both);
 * `engine` and `kernel` choose a student's inference path.
 */
export function loadPolicy<K extends PolicyKind | undefined = undefined>(
  path: string,
  options: { seed?: number; kind?: K } & Pick<StudentPolicyOptions, 'engine' | 'kernel'> = {},
): { policy: PolicyOf<K>; meta: CheckpointMeta } {
  const c = readCheckpoint(path, { kind: options.kind }) as CheckpointContents;
  const off = options.kernel !== undefined ? offRealtimePath(c.config) : null;
  if (off) throw kernelRefused(options.kernel!, path, off);
  const policy =
    c.config.kind === 'student'
      ? new StudentPolicy(c.config, c.stats, c.weights, { seed: options.seed, source: path, engine: options.engine, kernel: options.kernel })
      : c.config.kind === 'lfm'
        ? new LocalFlowPolicy(c.config, c.stats, c.weights, { seed: options.seed, source: path })
        : new FlowPolicy(c.config, c.stats, c.weights, { seed: options.seed, source: path });
  return { policy: policy as PolicyOf<K>, meta: c.meta };
}
