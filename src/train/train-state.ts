import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { decodeContainer, encodeContainer } from '../core/container.js';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import type { RngState } from '../core/rng.js';
import { parseInput } from '../core/schema.js';
import type { WeightMap } from '../nets/params.js';
import { decodeWeights, encodeWeights, WeightRecord } from '../nets/weight-codec.js';

/**
 * Everything needed to continue a run exactly where it stopped: weights,
 * EMA weights, optimizer moments, step and the generator state. Kept apart
 * from the checkpoint (which holds only what inference needs).
 */
export const TRAIN_STATE_FORMAT = 'flowpolicy-train-state';

const Body = z
  .object({
    step: z.number().int().nonnegative(),
    config: z.string(),
    rng: z.object({ s: z.tuple([z.number(), z.number(), z.number(), z.number()]), spare: z.number().nullable() }),
    params: WeightRecord,
    ema: WeightRecord,
    adam: z.object({ step: z.number().int().nonnegative(), m: WeightRecord, v: WeightRecord }),
    elapsedMs: z.number().nonnegative(),
    block: z.number().int().positive().optional(),
  })
  .strict();

export interface TrainState {
  step: number;
  /** The run config as canonical JSON, to refuse resuming a different run. */
  config: string;
  rng: RngState;
  params: WeightMap;
  ema: WeightMap;
  adam: { step: number; m: WeightMap; v: WeightMap };
  elapsedMs: number;
  /** A Local Flow Matching run: the block (1-based) that `step` counts the steps of. */
  block?: number;
}

export function saveTrainState(path: string, s: TrainState): void {
  const body = {
    step: s.step,
    config: s.config,
    rng: s.rng,
    params: encodeWeights(s.params),
    ema: encodeWeights(s.ema),
    adam: { step: s.adam.step, m: encodeWeights(s.adam.m), v: encodeWeights(s.adam.v) },
    elapsedMs: s.elapsedMs,
    ...(s.block !== undefined ? { block: s.block } : {}),
  };
  writeFileAtomic(path, encodeContainer({ format: TRAIN_STATE_FORMAT, version: 1 }, body));
}

export function loadTrainState(path: string): TrainState {
  if (!existsSync(path)) throw new InputError('resume', path, 'a run folder holding train-state.fpk (written by flowpolicy train)');
  const { body } = decodeContainer(readFileSync(path), path, TRAIN_STATE_FORMAT, [1]);
  const b = parseInput(Body, body, path);
  return {
    step: b.step,
    config: b.config,
    rng: { s: b.rng.s, spare: b.rng.spare },
    params: decodeWeights(b.params, path),
    ema: decodeWeights(b.ema, path),
    adam: { step: b.adam.step, m: decodeWeights(b.adam.m, path), v: decodeWeights(b.adam.v, path) },
    elapsedMs: b.elapsedMs,
    ...(b.block !== undefined ? { block: b.block } : {}),
  };
}
