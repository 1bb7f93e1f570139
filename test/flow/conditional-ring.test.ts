import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { loadPolicy } from '../../src/policy/checkpoint.js';
import type { FlowPolicy } from '../../src/policy/flow-policy.js';
import { RunConfig } from '../../src/train/config.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { ringDataset, ringRunConfig } from '../helpers/ring.js';
import { BOUND, correct, flippedSign, reversedTime, ringNoiseFloor, ringScore } from '../helpers/ring-score.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

/**
 * End to end on a distribution with known samples: the real trainer on a
 * conditional ring of Gaussians, sampled by the real policy and scored by
 * the sliced Wasserstein distance against fresh true samples. The correct
 * model meets the bound; the classic mistakes miss it: the velocity sign
 * flipped, time run from data to noise (and, in
 * conditional-ring-blind.test.ts, a model that never sees the condition).
 */
describe('conditional flow matching on a ring of Gaussians', () => {
  let policy: FlowPolicy;
  let val: { first: number | null; last: number | null };

  beforeAll(async () => {
    await useBackend(TEST_BACKEND);
    const r = await trainFlowPolicy(RunConfig.parse(ringRunConfig()), { runDir: join(tempDir(), 'run'), dataset: ringDataset({ episodes: 8, frames: 1024, seed: 11 }) });
    val = { first: r.firstValLoss, last: r.valLoss };
    policy = loadPolicy(r.checkpointPath, { kind: 'flow' }).policy;
  }, 300_000);

  it('lowers the validation loss', () => {
    expect(val.last!).toBeLessThan(val.first! * 0.5);
  });

  it('generates samples close to the true conditional distribution', () => {
    expect(ringScore(policy, correct, 5)).toBeLessThan(BOUND);
    // The estimator's own noise floor (true vs true) sits well below the bound.
    expect(ringNoiseFloor(6)).toBeLessThan(BOUND / 2);
  });

  it('misses the bound with the velocity sign flipped', () => {
    expect(ringScore(policy, flippedSign, 5)).toBeGreaterThan(BOUND);
  });

  it('misses the bound with time running from data to noise', () => {
    expect(ringScore(policy, reversedTime, 5)).toBeGreaterThan(BOUND);
  });
});
