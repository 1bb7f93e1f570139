import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { loadPolicy, readCheckpoint } from '../../src/policy/checkpoint.js';
import { splitChainWeights } from '../../src/policy/local-flow-policy.js';
import { distillBlocks } from '../../src/train/block-distill-trainer.js';
import { RunConfig } from '../../src/train/config.js';
import { DistillConfig, type DistillConfigInput } from '../../src/train/distill-config.js';
import { DISTILL_FILES, distillStudent } from '../../src/train/distill-trainer.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { trainLocalFlowPolicy } from '../../src/train/lfm-trainer.js';
import { MetricsLog } from '../../src/train/metrics-log.js';
import { reflowTeacher } from '../../src/train/reflow-trainer.js';
import { loadTrainState } from '../../src/train/train-state.js';
import { TEST_BACKEND } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { ringDataset, ringRunConfig } from '../helpers/ring.js';
import { PUSHT_ZARR, tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const dataset = ringDataset({ episodes: 4, frames: 256, seed: 11 });
const N = 3;

/** A chain on the ring, trained briefly: curved enough that one Euler step per block is visibly off. */
function chainRun(kind: 'lfm' | 'flow', steps: number): RunConfig {
  const c = ringRunConfig();
  return RunConfig.parse({
    ...c,
    policy: {
      ...c.policy,
      net: { kind: 'mlp', hidden: 48, layers: 2, timeEmbedDim: 8 },
      ...(kind === 'lfm' ? { kind: 'lfm', lfm: { schedule: { kind: 'cosine', blocks: N }, push: { solver: { method: 'rk4', steps: 8 } } } } : {}),
    },
    train: { ...c.train, steps, batchSize: 128, warmupSteps: 20, logEvery: 50, evalEvery: 300, saveEvery: 300 },
  });
}

const distillConfig = (teacher: string, extra: Partial<DistillConfigInput> = {}) =>
  DistillConfig.parse({
    teacher,
    target: 'blocks',
    dataset: { path: 'ring (synthetic)', valRatio: 0.125, maxTrainEpisodes: null },
    cache: { k: 4, solver: { method: 'rk4', steps: 16 }, partWindows: 256 },
    train: { steps: 600, batchSize: 128, lr: 1e-3, warmupSteps: 10, logEvery: 20, saveEvery: 50 },
    ...extra,
  });

let teacherDir: string;

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
  teacherDir = join(dir, 'chain');
  await trainLocalFlowPolicy(chainRun('lfm', 900), { runDir: teacherDir, dataset });
});

/** Mean distance, from the same noise and conditions, of a chain's chunks to the teacher chain's accurate ones. */
function errorToTeacher(policyPath: string, solver: { method: 'euler' | 'rk4'; steps: number } | undefined, reference: Float32Array, cond: Float32Array, noise: Float32Array): { error: number; nfe: number } {
  const p = loadPolicy(policyPath, { kind: 'lfm' }).policy;
  const r = p.sampleNormalized(cond, noise, cond.length / 2, solver);
  p.dispose();
  let sum = 0;
  for (let i = 0; i < reference.length; i += 2) sum += Math.hypot(r.chunks[i] - reference[i], r.chunks[i + 1] - reference[i + 1]);
  return { error: sum / (reference.length / 2), nfe: r.nfe };
}

describe('per-block one-step distillation of an LFM chain', () => {
  it('gives an LFM checkpoint of N network calls that follows the chain far better than the chain run at one step per block', async () => {
    const r = await distillBlocks(distillConfig(teacherDir), { runDir: join(dir, 'blocks'), dataset });
    expect(r).toMatchObject({ step: 600, totalSteps: 600, interrupted: false, cache: { builtParts: 3, reusedParts: 0 } });
    const c = readCheckpoint(r.checkpointPath, { kind: 'lfm' });
    expect(c.config.inference).toMatchObject({ method: 'euler', steps: 1 });
    expect(c.meta).toMatchObject({ step: 600, block: N, blocks: N, distilled: 'blocks' });
    // Each block's loss falls while it trains (records tagged by block, run-wide steps).
    const records = MetricsLog.read(join(dir, 'blocks', DISTILL_FILES.metrics)).filter((x) => typeof x.loss === 'number');
    for (let n = 1; n <= N; n++) {
      const losses = records.filter((x) => x.block === n).map((x) => x.loss as number);
      expect(losses.length).toBe(10);
      expect(losses[losses.length - 1], `block ${n}`).toBeLessThan(0.8 * losses[0]);
    }

    const rng = new Rng(3);
    const B = 512;
    const cond = new Float32Array(2 * B);
    for (let b = 0; b < B; b++) {
      const phi = 2 * Math.PI * rng.uniform();
      cond[2 * b] = Math.cos(phi);
      cond[2 * b + 1] = Math.sin(phi);
    }
    const noise = rng.fillNormal(new Float32Array(2 * B));
    const teacherPath = join(teacherDir, 'checkpoint.fpk');
    const accurate = loadPolicy(teacherPath, { kind: 'lfm' }).policy;
    const reference = accurate.sampleNormalized(cond, noise, B, { method: 'rk4', steps: 16 }).chunks;
    accurate.dispose();
    const naive = errorToTeacher(teacherPath, { method: 'euler', steps: 1 }, reference, cond, noise);
    const distilled = errorToTeacher(r.checkpointPath, undefined, reference, cond, noise);
    console.info(`ring chain of ${N} blocks, distance to its rk4 x16 chunks: teacher at 1 Euler step per block ${naive.error.toFixed(3)}, distilled blocks ${distilled.error.toFixed(3)}`);
    expect(distilled.nfe).toBe(N);
    expect(naive.nfe).toBe(N);
    expect(distilled.error).toBeLessThan(0.5 * naive.error);
  });

  it.each([
    ['inside block 2', 300],
    ['as block 2 starts', 200],
  ])('resumed after a stop %s, ends with the weights of an uninterrupted run', async (_what, at) => {
    const runDir = join(dir, `cut-${at}`);
    const controller = new AbortController();
    const cut = await distillBlocks(distillConfig(teacherDir), { runDir, dataset, hooks: { signal: controller.signal, onStep: (s) => s.step === at && controller.abort() } });
    expect(cut).toMatchObject({ interrupted: true, step: at });
    expect(loadTrainState(join(runDir, DISTILL_FILES.state))).toMatchObject({ block: 2, step: at - 200 });
    // Mid-run, the checkpoint runs: the blocks finished so far are distilled, the rest the teacher's.
    const [, , b3] = splitChainWeights(readCheckpoint(cut.checkpointPath).weights, N);
    const t3 = splitChainWeights(readCheckpoint(join(teacherDir, 'checkpoint.fpk')).weights, N)[2];
    for (const [name, w] of t3) expect(b3.get(name)!.data, name).toEqual(w.data);
    await expect(distillBlocks(distillConfig(teacherDir), { runDir, dataset })).rejects.toThrow(/pass --resume to continue it/);
    const resumed = await distillBlocks(distillConfig(teacherDir), { runDir, dataset, resume: true });
    expect(resumed).toMatchObject({ interrupted: false, step: 600, cache: { builtParts: 0, reusedParts: 3 } });
    const a = readCheckpoint(join(dir, 'blocks', DISTILL_FILES.checkpoint));
    const b = readCheckpoint(resumed.checkpointPath);
    for (const [name, w] of a.weights) expect(b.weights.get(name)!.data, name).toEqual(w.data);
  });

  it('refuses a flow teacher, objective and student-network settings, and a cache of whole-chain samples', async () => {
    const flowDir = join(dir, 'flow');
    await trainFlowPolicy(chainRun('flow', 5), { runDir: flowDir, dataset });
    await expect(distillBlocks(distillConfig(flowDir), { runDir: join(dir, 'x-flow'), dataset })).rejects.toThrow(/config.kind = "flow", expected 'lfm' \(target 'blocks' distils the blocks of an LFM chain/);
    await expect(distillBlocks(distillConfig(teacherDir, { objective: { m: 8 } }), { runDir: join(dir, 'x-m'), dataset })).rejects.toThrow(InputError);
    // Nor is a chain reflowed: it has a network per block.
    await expect(reflowTeacher(distillConfig(teacherDir, { target: 'reflow' }), { runDir: join(dir, 'x-reflow'), dataset })).rejects.toThrow(/config.kind = "lfm", expected 'flow' \(target 'reflow' retrains a flow teacher's network/);
    expect(existsSync(join(dir, 'x-reflow'))).toBe(false);
    await expect(distillBlocks(distillConfig(teacherDir, { objective: { kind: 'pairs' } }), { runDir: join(dir, 'x-kind'), dataset })).rejects.toThrow(
      /objective.kind = "pairs", expected left unset with target 'blocks'/,
    );
    await expect(distillBlocks(distillConfig(teacherDir, { student: { latentDim: 3 } }), { runDir: join(dir, 'x-latent'), dataset })).rejects.toThrow(
      "student.latentDim = 3, expected left unset with target 'blocks' (each block keeps the chain's network and noise)",
    );
    expect(existsSync(join(dir, 'x-latent'))).toBe(false);
    // A whole-chain student's cache holds chunks, not the chain's states.
    const studentCache = join(dir, 'student', DISTILL_FILES.cache);
    const cache = { k: 4, solver: { method: 'rk4' as const, steps: 16 }, partWindows: 256, dir: studentCache };
    await distillStudent(distillConfig(teacherDir, { target: 'student', cache, train: { steps: 1, batchSize: 4, logEvery: 1, saveEvery: 1 } }), { runDir: join(dir, 'student'), dataset });
    await expect(distillBlocks(distillConfig(teacherDir, { cache }), { runDir: join(dir, 'x-cache'), dataset })).rejects.toThrow(/it was built with other chunkSize/);
  });
});

describe('flowpolicy distill --target blocks', () => {
  it('distils a Push-T chain to one step per block, which eval then runs', () => {
    const chain = join(dir, 'cli-chain');
    const small = ['--policy.net.hidden', '32', '--policy.net.layers', '2', '--batch-size', '32', '--train.warmupSteps', '2', '--policy.lfm.push.solver.steps', '2'];
    const t = runCli(['train', '--dataset', PUSHT_ZARR, '--out', chain, '--policy', 'lfm-mlp', '--blocks', '2', '--steps', '10', ...small]);
    expect(t.code, t.stderr).toBe(0);
    const out = join(dir, 'cli-blocks');
    const r = runCli(['distill', chain, '--out', out, '--target', 'blocks', '--k', '1', '--teacher-steps', '2', '--steps', '6', '--batch-size', '16', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ step: 6, totalSteps: 6, interrupted: false });
    expect(r.stderr).toMatch(/one-step blocks: 2 blocks, [\d,]+ parameters in all, K 1/);
    const s = runCli(['sample', join(out, DISTILL_FILES.checkpoint), '--obs', JSON.stringify({ 'observation.environment_state': Array(18).fill(250), 'observation.state': [100, 200] }), '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ nfe: 2 });
    const e = runCli(['eval', out, '--episodes', '1', '--max-steps', '3', '--workers', '1', '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ policyKind: 'lfm', episodes: 1 });
    const bad = runCli(['distill', join(dir, 'flow'), '--out', join(dir, 'cli-x'), '--target', 'chain']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/target = "chain", expected one of "student"\|"blocks"|target.*student.*blocks/);
  });
});
