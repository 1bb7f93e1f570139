import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { decodeContainer } from '../../src/core/container.js';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { parseInput } from '../../src/core/schema.js';
import { loadPolicy, readCheckpoint } from '../../src/policy/checkpoint.js';
import { splitChainWeights } from '../../src/policy/local-flow-policy.js';
import { RunConfig, type RunConfigInput } from '../../src/train/config.js';
import { DistillConfig } from '../../src/train/distill-config.js';
import { distillStudent } from '../../src/train/distill-trainer.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { blockBudget, LFM_FILES, trainLocalFlowPolicy } from '../../src/train/lfm-trainer.js';
import { MetricsLog } from '../../src/train/metrics-log.js';
import { loadTrainState, saveTrainState } from '../../src/train/train-state.js';
import { TEST_BACKEND } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { ringDataset, ringRunConfig } from '../helpers/ring.js';
import { PUSHT_ZARR, tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const dataset = ringDataset({ episodes: 4, frames: 256, seed: 11 });

/** A short run on the ring: a small MLP, 64-row batches. */
function shortRun(steps: number, policy: Partial<RunConfigInput['policy']> = {}, train: Partial<RunConfigInput['train']> = {}): RunConfig {
  const c = ringRunConfig();
  return RunConfig.parse({
    ...c,
    policy: { ...c.policy, net: { kind: 'mlp', hidden: 32, layers: 2, timeEmbedDim: 8 }, ...policy },
    train: { ...c.train, steps, batchSize: 64, warmupSteps: 5, logEvery: 5, evalEvery: 10, saveEvery: 10, ...train },
  });
}

const lfm = (blocks: number, extra: Record<string, unknown> = {}) => ({ kind: 'lfm' as const, lfm: { schedule: { kind: 'cosine' as const, blocks }, push: { solver: { method: 'rk4' as const, steps: 4 } }, ...extra } });

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

describe('one free block with the linear interpolant is flow matching', () => {
  it.each([false, true])('same losses, weights and samples for the same seed (OT coupling %s)', async (ot) => {
    const flow = { otCoupling: ot };
    const fm = await trainFlowPolicy(shortRun(40, { flow }), { runDir: join(dir, `fm-${ot}`), dataset });
    const lf = await trainLocalFlowPolicy(shortRun(40, { flow, ...lfm(1) }), { runDir: join(dir, `lfm1-${ot}`), dataset });
    const records = (run: string) => MetricsLog.read(join(dir, run, LFM_FILES.metrics)).map((r) => [r.step, r.loss ?? null, r.valLoss ?? null]);
    expect(records(`lfm1-${ot}`)).toEqual(records(`fm-${ot}`));
    expect(records(`fm-${ot}`).filter((r) => r[1] !== null)).toHaveLength(8);
    expect(lf).toMatchObject({ valLoss: fm.valLoss, firstValLoss: fm.firstValLoss, trainLoss: fm.trainLoss, blocks: 1, parameters: fm.parameters });

    const a = readCheckpoint(fm.checkpointPath, { kind: 'flow' });
    const b = readCheckpoint(lf.checkpointPath, { kind: 'lfm' });
    const [block] = splitChainWeights(b.weights, 1);
    for (const [name, w] of a.weights) expect(block.get(name)!.data, name).toEqual(w.data);

    const teacher = loadPolicy(fm.checkpointPath, { kind: 'flow', seed: 3 }).policy;
    const chain = loadPolicy(lf.checkpointPath, { kind: 'lfm', seed: 3 }).policy;
    const rng = new Rng(4);
    const cond = rng.fillNormal(new Float32Array(2 * 64));
    const noise = rng.fillNormal(new Float32Array(2 * 64));
    expect(Array.from(chain.sampleNormalized(cond, noise, 64).chunks)).toEqual(Array.from(teacher.sampleNormalized(cond, noise, 64).chunks));
    const obs = { 'observation.state': [0.6, 0.8] };
    expect(Array.from(chain.act(obs).actions)).toEqual(Array.from(teacher.act(obs).actions));
    teacher.dispose();
    chain.dispose();
  });
});

describe('LFM training runs', () => {
  const N = 3;
  const config = (steps = 60) => shortRun(steps, lfm(N));

  it('trains the blocks one after another on equal shares of the steps and writes a complete run folder', async () => {
    expect(blockBudget(60, 3)).toEqual([20, 20, 20]);
    expect(blockBudget(10, 3)).toEqual([4, 3, 3]);
    expect(() => blockBudget(2, 3)).toThrow('train.steps = 2, expected at least the number of LFM blocks (3)');
    const phases: string[] = [];
    const r = await trainLocalFlowPolicy(config(), { runDir: join(dir, 'whole'), dataset, hooks: { onBlock: (b) => phases.push(`${b.phase} ${b.block}`) } });
    expect(phases).toEqual(['train 1', 'push 1', 'train 2', 'push 2', 'train 3']);
    expect(r).toMatchObject({ step: 60, totalSteps: 60, interrupted: false, blocks: 3 });
    for (const b of r.blockValLoss) expect(b.last!).toBeLessThan(b.first!);
    const c = readCheckpoint(r.checkpointPath, { kind: 'lfm' });
    expect(c.meta).toMatchObject({ step: 60, block: 3, blocks: 3 });
    expect(c.config.lfm).toEqual({ schedule: { kind: 'cosine', blocks: 3, offset: 0.008 }, interpolant: 'linear' });
    expect(readdirSync(join(dir, 'whole', LFM_FILES.blocks)).sort()).toEqual(['block-01.fpb', 'block-02.fpb']);
    // config.json holds the LFM section with its defaults written out.
    const saved = JSON.parse(readFileSync(join(dir, 'whole', LFM_FILES.config), 'utf8'));
    expect(saved.policy).toMatchObject({ kind: 'lfm', lfm: { interpolant: 'linear', push: { batch: 2048 } } });
    // Metrics: run-wide steps, each block's records tagged; every block validated before and after.
    const records = MetricsLog.read(join(dir, 'whole', LFM_FILES.metrics));
    expect(records.filter((x) => typeof x.loss === 'number').map((x) => [x.step, x.block])).toEqual(
      Array.from({ length: 12 }, (_, i) => [5 * (i + 1), Math.floor((5 * i) / 20) + 1]),
    );
    expect(records.filter((x) => typeof x.valLoss === 'number').map((x) => [x.step, x.block])).toEqual([
      [0, 1], [10, 1], [20, 1], [20, 2], [30, 2], [40, 2], [40, 3], [50, 3], [60, 3],
    ]);
    const chain = loadPolicy(r.checkpointPath, { kind: 'lfm' }).policy;
    const latent = chain.sampleNormalized(new Float32Array(2), Float32Array.of(0.3, -0.2), 1);
    expect(latent.nfe).toBe(3 * 8 * 4);
    chain.dispose();
  });

  it.each([
    ['inside block 2', 30],
    ['while block 1 pushes its pool', 20],
  ])('resumed after a stop %s, ends with the weights of an uninterrupted run', async (_what, at) => {
    const runDir = join(dir, `cut-${at}`);
    const controller = new AbortController();
    const cut = await trainLocalFlowPolicy(config(), { runDir, dataset, hooks: { signal: controller.signal, onStep: (s) => s.step === at && controller.abort() } });
    expect(cut).toMatchObject({ interrupted: true, step: at });
    expect(loadTrainState(join(runDir, LFM_FILES.state))).toMatchObject({ block: at === 30 ? 2 : 1, step: at === 30 ? 10 : 20 });
    expect(existsSync(join(runDir, LFM_FILES.blocks, 'block-01.fpb'))).toBe(at === 30);
    await expect(trainLocalFlowPolicy(config(), { runDir, dataset })).rejects.toThrow(/pass --resume to continue it/);
    await expect(trainLocalFlowPolicy(config(90), { runDir, dataset, resume: true })).rejects.toThrow(/train.steps included: it is split over the blocks/);
    const resumed = await trainLocalFlowPolicy(config(), { runDir, dataset, resume: true });
    expect(resumed).toMatchObject({ interrupted: false, step: 60 });
    const a = readCheckpoint(join(dir, 'whole', LFM_FILES.checkpoint));
    const b = readCheckpoint(resumed.checkpointPath);
    for (const [name, w] of a.weights) expect(b.weights.get(name)!.data, name).toEqual(w.data);
    const tagged = (run: string) => MetricsLog.read(join(run, LFM_FILES.metrics)).map((x) => [x.step, x.block, x.loss ?? null, x.valLoss ?? null]);
    expect(tagged(runDir)).toEqual(tagged(join(dir, 'whole')));
    expect(readdirSync(join(runDir, LFM_FILES.blocks)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Resumed once more, finished: no step, and the last block's logged loss and the run's rate rather than null and 0.
    const again = await trainLocalFlowPolicy(config(), { runDir, dataset, resume: true });
    const lastLoss = MetricsLog.read(join(runDir, LFM_FILES.metrics)).filter((x) => typeof x.loss === 'number').at(-1)!;
    expect(lastLoss.block).toBe(3);
    expect(again).toMatchObject({ interrupted: false, step: 60, trainLoss: lastLoss.loss });
    expect((again.stepsPerSecond * again.elapsedMs) / (60 * 1000)).toBeCloseTo(1, 2);
  });

  it('another dataset is refused on resume; a run written before the identity left the dataset path out resumes in place', async () => {
    const runDir = join(dir, 'cut-legacy');
    const controller = new AbortController();
    await trainLocalFlowPolicy(config(), { runDir, dataset, hooks: { signal: controller.signal, onStep: (s) => s.step === 5 && controller.abort() } });
    const other = ringDataset({ episodes: 4, frames: 256, seed: 12 });
    await expect(trainLocalFlowPolicy(config(), { runDir, dataset: other, resume: true })).rejects.toThrow(/the same LFM run config and dataset contents/);
    // The earlier identity: the run config as config.json holds it, dataset path included, no digest.
    const statePath = join(runDir, LFM_FILES.state);
    const earlier = JSON.stringify(config());
    saveTrainState(statePath, { ...loadTrainState(statePath), config: earlier });
    const again = new AbortController();
    await trainLocalFlowPolicy(config(), { runDir, dataset, resume: true, hooks: { signal: again.signal, onStep: (s) => s.step === 30 && again.abort() } });
    // Block results are keyed to the identity the state recorded (an earlier version's block files hold that key).
    const blockFile = join(runDir, LFM_FILES.blocks, 'block-01.fpb');
    const { body } = decodeContainer(readFileSync(blockFile), blockFile, 'flowpolicy-lfm-block', [1]);
    expect((body as { run: string }).run).toBe(createHash('sha256').update(earlier).digest('hex'));
    const resumed = await trainLocalFlowPolicy(config(), { runDir, dataset, resume: true });
    expect(resumed).toMatchObject({ interrupted: false, step: 60 });
    const a = readCheckpoint(join(dir, 'whole', LFM_FILES.checkpoint));
    const b = readCheckpoint(resumed.checkpointPath);
    for (const [name, w] of a.weights) expect(b.weights.get(name)!.data, name).toEqual(w.data);
  });

  it('warm-starts each block from the last one: stopped as block 2 starts, the chain saved holds block 1 three times', async () => {
    const runDir = join(dir, 'cut-start-2');
    const controller = new AbortController();
    const cut = await trainLocalFlowPolicy(config(), { runDir, dataset, hooks: { signal: controller.signal, onBlock: (b) => b.block === 2 && b.phase === 'train' && controller.abort() } });
    expect(cut).toMatchObject({ interrupted: true, step: 20 });
    const [b1, b2, b3] = splitChainWeights(readCheckpoint(cut.checkpointPath).weights, 3);
    for (const [name, w] of b1) {
      expect(b2.get(name)!.data, name).toEqual(w.data);
      expect(b3.get(name)!.data, name).toEqual(w.data);
    }
    const resumed = await trainLocalFlowPolicy(config(), { runDir, dataset, resume: true });
    const a = readCheckpoint(join(dir, 'whole', LFM_FILES.checkpoint));
    const b = readCheckpoint(resumed.checkpointPath);
    for (const [name, w] of a.weights) expect(b.weights.get(name)!.data, name).toEqual(w.data);
  });

  it('refuses a flow run config, and a flow trainer refuses an LFM one', async () => {
    await expect(trainLocalFlowPolicy(shortRun(10), { runDir: join(dir, 'not-lfm'), dataset })).rejects.toThrow(InputError);
    await expect(trainFlowPolicy(config(), { runDir: join(dir, 'not-flow'), dataset })).rejects.toThrow(/policy.kind = "lfm", expected 'flow'/);
    expect(() => parseInput(RunConfig, { dataset: { path: 'x' }, policy: { lfm: {} } }, 'run')).toThrow(/^run: policy.lfm = an object with keys .*, expected no lfm section unless policy.kind is "lfm"$/);
  });

  it('an LFM chain teaches a one-step student through its whole chain, warm-started from its free block', async () => {
    const teacherDir = join(dir, 'whole');
    const r = await distillStudent(
      DistillConfig.parse({
        teacher: teacherDir,
        dataset: { path: 'ring (synthetic)', valRatio: 0.125, maxTrainEpisodes: null },
        cache: { k: 2, solver: { method: 'euler', steps: 3 }, partWindows: 512 },
        // A step too small to move the weights: the student is its warm start.
        train: { steps: 1, batchSize: 4, lr: 1e-12, warmupSteps: 0, logEvery: 1, saveEvery: 1 },
      }),
      { runDir: join(dir, 'student'), dataset },
    );
    expect(r.cache.builtParts).toBe(2); // 3 training episodes x 256 windows
    const student = readCheckpoint(r.checkpointPath, { kind: 'student' });
    const teacher = readCheckpoint(join(teacherDir, LFM_FILES.checkpoint), { kind: 'lfm' });
    const free = splitChainWeights(teacher.weights, N)[N - 1];
    for (const [name, w] of free) student.weights.get(name)!.data.forEach((v, i) => expect(v, name).toBeCloseTo(w.data[i], 6));
  });
});

describe('flowpolicy train --policy lfm-mlp', () => {
  const small = ['--policy.net.hidden', '32', '--policy.net.layers', '2', '--batch-size', '32', '--train.warmupSteps', '2', '--train.logEvery', '5', '--train.evalEvery', '10', '--policy.lfm.push.solver.steps', '2'];

  it('trains a chain on Push-T that sample, inspect and eval then run', () => {
    const out = join(dir, 'cli-lfm');
    const r = runCli(['train', '--dataset', PUSHT_ZARR, '--out', out, '--policy', 'lfm-mlp', '--blocks', '2', '--steps', '20', ...small, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ step: 20, totalSteps: 20, blocks: 2, interrupted: false });
    expect(r.stderr).toMatch(/policy: lfm, 2 blocks of mlp \(linear interpolant, cosine schedule\), [\d,]+ parameters in all; steps per block 10, 10/);
    expect(r.stderr).toMatch(/block 1\/2 trained; pushing \d+ pool chunks through it/);
    const c = readCheckpoint(join(out, LFM_FILES.checkpoint), { kind: 'lfm' });
    expect(c.config).toMatchObject({ kind: 'lfm', net: { kind: 'mlp', hidden: 32 }, lfm: { schedule: { blocks: 2 } } });
    // The report plots each block's losses as curves of their own, and lists each block's validation loss.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toContain('LFM loss per block (2 blocks');
    for (const name of ['block 1 train', 'block 1 validation', 'block 2 train', 'block 2 validation']) expect(report).toContain(name);
    expect(report).toMatch(/block 2 validation loss \(first → last\)<\/td><td>\d\.\d{5} → \d\.\d{5}/);

    const obs = JSON.stringify({ 'observation.environment_state': Array.from({ length: 18 }, (_, i) => 200 + 5 * i), 'observation.state': [100, 200] });
    const s = runCli(['sample', join(out, LFM_FILES.checkpoint), '--obs', obs, '--steps', '3', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ horizon: 16, actionDim: 2, nfe: 2 * 3 });
    const i = runCli(['inspect', join(out, LFM_FILES.checkpoint)]);
    expect(i.stdout).toMatch(/lfm \(Local Flow Matching, 2 blocks, cosine schedule, linear interpolant/);
    const e = runCli(['eval', out, '--episodes', '1', '--max-steps', '3', '--workers', '1', '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ policyKind: 'lfm', episodes: 1 });

    const again = runCli(['train', '--resume', out, '--steps', '40']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/expected the same LFM run config and dataset contents as the run being resumed/);
  });

  it('refuses LFM settings on a flow policy and an unknown --policy', () => {
    const a = runCli(['train', '--dataset', PUSHT_ZARR, '--out', join(dir, 'x1'), '--policy', 'mlp', '--blocks', '3']);
    expect(a.stderr).toMatch(/policy.lfm = .*, expected no lfm section unless policy.kind is "lfm"/);
    const b = runCli(['train', '--dataset', PUSHT_ZARR, '--out', join(dir, 'x2'), '--policy', 'lfm-transformer']);
    expect(b.stderr).toMatch(/--policy = "lfm-transformer", expected one of mlp, unet1d, lfm-mlp, lfm-unet, lfm-unet1d/);
  });
});
