import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { Rng } from '../../src/core/rng.js';
import { EpisodeDataset } from '../../src/data/episode-dataset.js';
import { loadDataset } from '../../src/data/load-dataset.js';
import { loadPolicy, readCheckpoint } from '../../src/policy/checkpoint.js';
import { RunConfig, type RunConfigInput } from '../../src/train/config.js';
import { RUN_FILES, trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { MetricsLog } from '../../src/train/metrics-log.js';
import { loadTrainState, saveTrainState } from '../../src/train/train-state.js';
import { runCli } from '../helpers/cli.js';
import { PUSHT_ZARR, tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

const dir = tempDir();
let dataset: EpisodeDataset;

const config = (steps: number, extra: Partial<RunConfigInput['train']> = {}): RunConfig =>
  RunConfig.parse({
    dataset: { path: PUSHT_ZARR },
    policy: { net: { kind: 'mlp', hidden: 128, layers: 3, timeEmbedDim: 32 } },
    train: { steps, batchSize: 128, lr: 1e-3, warmupSteps: 20, logEvery: 10, evalEvery: 50, saveEvery: 50, seed: 3, ...extra },
  });

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
  dataset = await loadDataset(PUSHT_ZARR);
});

describe('training the Push-T state teacher on the real demonstrations', () => {
  let checkpoint: string;

  it('lowers the validation loss and writes a complete run folder', async () => {
    const runDir = join(dir, 'run');
    const r = await trainFlowPolicy(config(200), { runDir, dataset });
    checkpoint = r.checkpointPath;
    expect(r.step).toBe(200);
    expect(r.valLoss!).toBeLessThan(r.firstValLoss! * 0.8);
    for (const f of Object.values(RUN_FILES).filter((f) => f !== RUN_FILES.report)) expect(existsSync(join(runDir, f)), f).toBe(true);
    const records = MetricsLog.read(join(runDir, RUN_FILES.metrics));
    expect(records.filter((x) => typeof x.loss === 'number').map((x) => x.step)).toEqual(Array.from({ length: 20 }, (_, i) => 10 * (i + 1)));
    expect(records.filter((x) => typeof x.valLoss === 'number').map((x) => x.step)).toEqual([0, 50, 100, 150, 200]);
    const c = readCheckpoint(checkpoint);
    expect(c.config.observation.features.map((f) => f.key)).toEqual(['observation.environment_state', 'observation.state']);
    expect(c.config.action).toEqual({ key: 'action', dim: 2, horizon: 16, execute: 8 });
    expect(c.meta).toMatchObject({ step: 200, backend: TEST_BACKEND });
    expect(JSON.parse(readFileSync(join(runDir, RUN_FILES.config), 'utf8'))).toEqual(JSON.parse(JSON.stringify(config(200))));
  }, 120_000);

  it('reloads on another backend and gives the same actions for the same seed and noise', async () => {
    const obs = {
      'observation.environment_state': Array.from(dataset.frame('observation.environment_state', 100)),
      'observation.state': Array.from(dataset.frame('observation.state', 100)),
    };
    const noise = new Rng(8).fillNormal(new Float32Array(32));
    const actOn = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const { policy } = loadPolicy(checkpoint, { seed: 21 });
      const seeded = policy.act(obs).actions;
      const explicit = policy.act(obs, { noise }).actions;
      policy.dispose();
      return { seeded, explicit };
    };
    const wasm = await actOn('wasm');
    const cpu = await actOn('cpu');
    await useBackend(TEST_BACKEND);
    for (const k of ['seeded', 'explicit'] as const) {
      wasm[k].forEach((v, i) => expect(Math.abs(v - cpu[k][i]), `${k}[${i}]`).toBeLessThan(1e-3));
    }
    // The actions are in pixels of the workspace, not normalised units.
    expect(Math.max(...wasm.explicit.map(Math.abs))).toBeGreaterThan(5);
  });

  it('resumes to exactly the weights of an uninterrupted run', async () => {
    const straight = await trainFlowPolicy(config(100), { runDir: join(dir, 'straight'), dataset });
    const half = join(dir, 'resumed');
    const controller = new AbortController();
    const cut = await trainFlowPolicy(config(100), { runDir: half, dataset, hooks: { signal: controller.signal, onStep: (s) => s.step === 45 && controller.abort() } });
    expect(cut).toMatchObject({ interrupted: true, step: 45 });
    const resumed = await trainFlowPolicy(config(100), { runDir: half, dataset, resume: true });
    expect(resumed.step).toBe(100);
    const a = loadTrainState(join(dir, 'straight', RUN_FILES.state));
    const b = loadTrainState(join(half, RUN_FILES.state));
    for (const [name, w] of a.params) expect(b.params.get(name)!.data, name).toEqual(w.data);
    for (const [name, w] of a.ema) expect(b.ema.get(name)!.data, name).toEqual(w.data);
    expect(resumed.valLoss).toBe(straight.valLoss);
    // The metrics log holds each step once.
    const steps = MetricsLog.read(join(half, RUN_FILES.metrics)).filter((x) => typeof x.loss === 'number').map((x) => x.step);
    expect(steps).toEqual([...new Set(steps)]);
    expect(steps.at(-1)).toBe(100);
  }, 120_000);

  it('stops on abort after saving, and refuses to resume a different run or to reuse a run folder', async () => {
    const runDir = join(dir, 'aborted');
    const controller = new AbortController();
    const r = await trainFlowPolicy(config(1000), {
      runDir,
      dataset,
      hooks: { signal: controller.signal, onStep: (s) => s.step === 30 && controller.abort() },
    });
    expect(r).toMatchObject({ interrupted: true, step: 30 });
    expect(loadTrainState(join(runDir, RUN_FILES.state)).step).toBe(30);
    expect(readCheckpoint(join(runDir, RUN_FILES.checkpoint)).meta.step).toBe(30);
    await expect(trainFlowPolicy(config(1000, { lr: 5e-4 }), { runDir, dataset, resume: true })).rejects.toThrow(/only train.steps may change/);
    await expect(trainFlowPolicy(config(1000), { runDir, dataset })).rejects.toThrow(/pass --resume to continue it/);
  }, 120_000);

  it('a run folder moved with its dataset resumes from the new path; other data is refused', async () => {
    const before = join(dir, 'move-a');
    const after = join(dir, 'move-b');
    mkdirSync(before);
    cpSync(PUSHT_ZARR, join(before, 'data.zarr'), { recursive: true });
    const { dataset: _d, ...rest } = config(6);
    writeFileSync(join(before, 'run.json'), JSON.stringify({ ...rest, train: { ...rest.train, saveEvery: 3 } }));
    const first = runCli(['train', '--config', join(before, 'run.json'), '--dataset', join(before, 'data.zarr'), '--out', join(before, 'run'), '--json', '--no-progress']);
    expect(first.code, first.stderr).toBe(0);
    renameSync(before, after);
    const resume = (...extra: string[]) => runCli(['train', '--resume', join(after, 'run'), '--steps', '9', '--json', '--no-progress', ...extra]);
    // The old path is gone: named, with the way to give the new one.
    const stale = resume();
    expect(stale.code).toBe(2);
    expect(stale.stderr).toContain(`dataset.path = "${join(before, 'data.zarr')}"`);
    expect(stale.stderr).toContain('resumes with --dataset <its new path>');
    // Another dataset, even at the run's own path, is refused by its contents, and nothing is written.
    const configPath = join(after, 'run', RUN_FILES.config);
    const recorded = readFileSync(configPath, 'utf8');
    const action = dataset.feature('action');
    const other = new EpisodeDataset({ ...dataset.features, action: { shape: action.shape, data: action.data.map((v, i) => (i === 0 ? v + 1 : v)) } }, dataset.episodeEnds, dataset.info);
    const moved = RunConfig.parse({ ...JSON.parse(recorded), dataset: { ...JSON.parse(recorded).dataset, path: join(after, 'data.zarr') } });
    await expect(trainFlowPolicy(moved, { runDir: join(after, 'run'), dataset: other, resume: true })).rejects.toThrow(/the same run config and dataset contents as the run being resumed/);
    expect(readFileSync(configPath, 'utf8')).toBe(recorded);
    const ok = resume('--dataset', join(after, 'data.zarr'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ step: 9, interrupted: false });
    expect(JSON.parse(readFileSync(configPath, 'utf8')).dataset).toEqual({ ...JSON.parse(recorded).dataset, path: join(after, 'data.zarr') });
    // A run written before the identity left the path out (the config with it, no digest) still resumes in place.
    const statePath = join(after, 'run', RUN_FILES.state);
    const state = loadTrainState(statePath);
    const settings = JSON.parse(readFileSync(configPath, 'utf8'));
    saveTrainState(statePath, { ...state, config: JSON.stringify({ ...settings, train: { ...settings.train, steps: undefined } }) });
    const legacy = resume('--steps', '12');
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(JSON.parse(legacy.stdout)).toMatchObject({ step: 12, interrupted: false });
  }, 120_000);
});
