import { readFileSync, existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import { decodeContainer, encodeContainer } from '../core/container.js';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { parseInput } from '../core/schema.js';
import { FeatureStats } from '../data/normalizer.js';
import type { WeightMap } from '../nets/params.js';
import { decodeWeights, encodeWeights, WeightRecord } from '../nets/weight-codec.js';
import { VERSION } from '../version.js';
import { PolicyConfig } from './config.js';
import { FlowPolicy } from './flow-policy.js';

/**
 * Checkpoints: one file holding a policy's config, normalisation statistics
 * and weights (shape, dtype and little-endian bytes each), inside the
 * checksummed container of core/container.ts. Loading validates all of it
 * against the schema and against the network the config describes, and
 * never executes anything from the file.
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

export interface CheckpointContents {
  config: PolicyConfig;
  stats: Record<string, FeatureStats>;
  weights: WeightMap;
  meta: CheckpointMeta;
}

export function encodeCheckpoint(contents: { config: PolicyConfig; stats: Record<string, FeatureStats>; weights: WeightMap; meta?: Partial<CheckpointMeta> }): Uint8Array {
  const weights = encodeWeights(contents.weights);
  const meta: CheckpointMeta = { flowpolicyVersion: VERSION, createdAt: new Date().toISOString(), ...contents.meta };
  return encodeContainer({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION }, { config: contents.config, stats: contents.stats, weights, meta });
}

/** Write a checkpoint atomically (never a half-written file at `path`). */
export function saveCheckpoint(path: string, contents: Parameters<typeof encodeCheckpoint>[0]): void {
  writeFileAtomic(path, encodeCheckpoint(contents));
}

export function decodeCheckpoint(bytes: Uint8Array, path: string): CheckpointContents {
  const { body } = decodeContainer(bytes, path, CHECKPOINT_FORMAT, [CHECKPOINT_VERSION]);
  const parsed = parseInput(CheckpointBody, body, path);
  const config = parseInput(PolicyConfig, parsed.config, `${path} (config)`);
  return { config, stats: parsed.stats, weights: decodeWeights(parsed.weights, path), meta: parsed.meta };
}

export function readCheckpoint(path: string): CheckpointContents {
  if (!existsSync(path)) throw new InputError('checkpoint', path, 'an existing checkpoint file (.fpk)');
  if (statSync(path).isDirectory()) throw new InputError('checkpoint', path, 'a checkpoint file, not a directory');
  return decodeCheckpoint(readFileSync(path), path);
}

/** Load a checkpoint as a ready policy on the active backend. */
export function loadPolicy(path: string, options: { seed?: number } = {}): { policy: FlowPolicy; meta: CheckpointMeta } {
  const c = readCheckpoint(path);
  const policy = new FlowPolicy(c.config, c.stats, c.weights, { seed: options.seed, source: path });
  return { policy, meta: c.meta };
}
