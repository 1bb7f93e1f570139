import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { loadPolicy } from '../../src/policy/checkpoint.js';
import type { FlowPolicy } from '../../src/policy/flow-policy.js';
import { RunConfig } from '../../src/train/config.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { ringDataset, ringRunConfig } from '../helpers/ring.js';
import { BOUND, correct, ringScore } from '../helpers/ring-score.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

// The unconditional control of conditional-ring.test.ts, in its own file so
// the two trainings run on two workers at once.
describe('a flow model that never sees the condition', () => {
  let blind: FlowPolicy;

  beforeAll(async () => {
    await useBackend(TEST_BACKEND);
    const r = await trainFlowPolicy(RunConfig.parse(ringRunConfig()), {
      runDir: join(tempDir(), 'run'),
      dataset: ringDataset({ episodes: 8, frames: 1024, seed: 11, blindCondition: true }),
    });
    blind = loadPolicy(r.checkpointPath, { kind: 'flow' }).policy;
  }, 300_000);

  it('misses the bound that the conditional model meets', () => {
    expect(ringScore(blind, correct, 5)).toBeGreaterThan(BOUND);
  });
});
