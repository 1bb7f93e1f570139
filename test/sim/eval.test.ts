import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { computeStats } from '../../src/data/normalizer.js';
import { FlowPolicyConfig } from '../../src/policy/config.js';
import { FlowPolicy } from '../../src/policy/flow-policy.js';
import { saveCheckpoint } from '../../src/policy/checkpoint.js';
import { StudentPolicy } from '../../src/policy/student-policy.js';
import { evaluate } from '../../sim/eval/evaluate.js';
import { runCli } from '../helpers/cli.js';
import { smallConfig, smallPolicy, workspaceStats } from '../helpers/policy.js';
import { tempDir } from '../helpers/tmp.js';
import { AUTO_BACKEND, TEST_BACKEND } from '../helpers/backend.js';

const dir = tempDir();

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

function save(policy: FlowPolicy, name: string): string {
  const path = join(dir, name);
  saveCheckpoint(path, { config: policy.config, stats: policy.stats, weights: policy.params.toWeights() });
  return path;
}

describe('evaluate', () => {
  it('gives the same numbers for the same seeds, however episodes are spread over workers', async () => {
    const options = { policy: 'scripted:pusht-pusher', task: 'pusht', episodes: 6, seed: 100000 };
    const two = await evaluate({ ...options, workers: 2 });
    const one = await evaluate({ ...options, workers: 1 });
    expect(two.results.map((r) => r.seed)).toEqual([100000, 100001, 100002, 100003, 100004, 100005]);
    const strip = (rs: typeof one.results) => rs.map(({ latenciesMs: _l, ...r }) => r);
    expect(strip(two.results)).toEqual(strip(one.results));
    expect(two.summary.meanMaxReward).toBe(one.summary.meanMaxReward);
    // The scripted pusher does move the block toward the goal on some seeds: the numbers are not all zero.
    expect(two.summary.meanMaxReward).toBeGreaterThan(0.05);
    for (const r of two.results) {
      expect(r.steps).toBeLessThanOrEqual(300);
      expect(r.maxReward).toBeGreaterThanOrEqual(0);
      expect(r.maxReward).toBeLessThanOrEqual(1);
      expect(r.success).toBe(r.maxCoverage > 0.95);
    }
  });

  it('runs a checkpoint in the workers with receding-horizon chunks', async () => {
    const path = save(smallPolicy(3), 'fits.fpk');
    const { summary, results } = await evaluate({ policy: path, task: 'pusht', episodes: 2, seed: 7, workers: 2, maxSteps: 20 });
    expect(summary.policyKind).toBe('flow');
    expect(summary.backend).toBe(AUTO_BACKEND);
    // 20 steps of Ta = 8: three policy calls an episode (8 + 8 + 4 actions).
    for (const r of results) expect({ steps: r.steps, calls: r.latenciesMs.length }).toEqual({ steps: 20, calls: 3 });
    expect(summary.latencyMsP50).toBeGreaterThan(0);
    // Each episode reseeds the policy's noise: one worker gives the same trajectories as two.
    const again = { policy: path, task: 'pusht', episodes: 2, seed: 7, maxSteps: 20, recordEpisodes: 2 };
    const [single, double] = [await evaluate({ ...again, workers: 1 }), await evaluate({ ...again, workers: 2 })];
    expect(single.results[0].states).toHaveLength(21);
    expect(single.results.map((r) => r.states)).toEqual(double.results.map((r) => r.states));
    // and the noise matters: the two seeds' agents do not move alike.
    expect(single.results[0].states).not.toEqual(single.results[1].states);
  });

  it('draws the policy noise again per seed on request: draw 0 is the standard run, the others differ, the summary spans them', async () => {
    const path = save(smallPolicy(3), 'draws.fpk');
    const base = { policy: path, task: 'pusht', episodes: 2, seed: 7, maxSteps: 20, workers: 2 };
    const single = await evaluate(base);
    const three = await evaluate({ ...base, draws: 3 });
    expect(three.results.map((r) => [r.seed, r.draw ?? 0])).toEqual([[7, 0], [8, 0], [7, 1], [8, 1], [7, 2], [8, 2]]);
    const strip = (rs: typeof single.results) => rs.map(({ latenciesMs: _l, ...r }) => r);
    expect(strip(three.results.slice(0, 2))).toEqual(strip(single.results));
    // Another draw of the same seed is another episode: the policy's noise changed, the env did not.
    expect(three.results[2].maxCoverage).not.toBe(three.results[0].maxCoverage);
    expect(three.summary).toMatchObject({ episodes: 2, draws: 3, byDraw: [{ meanMaxReward: single.summary.meanMaxReward, successRate: single.summary.successRate }, {}, {}] });
    const means = three.summary.byDraw.map((d) => d.meanMaxReward);
    expect(three.summary.meanMaxReward).toBeCloseTo(means.reduce((a, b) => a + b) / 3, 12);
    const m = three.summary.meanMaxReward;
    expect(three.summary.meanMaxRewardSd).toBeCloseTo(Math.sqrt(means.reduce((a, b) => a + (b - m) ** 2, 0) / 2), 12);
    expect(single.summary).toMatchObject({ draws: 1, meanMaxRewardSd: 0 });
    await expect(evaluate({ ...base, draws: 0 })).rejects.toThrow('draws = 0, expected a positive integer');
  });

  it("overrides the checkpoint's solver steps on request, for flow policies only", async () => {
    const path = save(smallPolicy(3), 'steps.fpk');
    const base = { policy: path, task: 'pusht', episodes: 1, seed: 7, maxSteps: 20, workers: 1, recordEpisodes: 1 };
    const [own, one, ten] = [await evaluate(base), await evaluate({ ...base, solverSteps: 1 }), await evaluate({ ...base, solverSteps: 10 })];
    // smallPolicy samples with 10 Euler steps: --steps 10 is the same run, --steps 1 another.
    expect(ten.results[0].states).toEqual(own.results[0].states);
    expect(one.results[0].states).not.toEqual(own.results[0].states);
    await expect(evaluate({ ...base, solverSteps: 0 })).rejects.toThrow('steps = 0, expected a positive integer');
    await expect(evaluate({ policy: 'scripted:pusht-pusher', task: 'pusht', episodes: 1, seed: 7, solverSteps: 4 })).rejects.toThrow(/steps = 4, expected no solver steps for a scripted:pusht-pusher policy/);
  });

  it("runs a student on the int16 real-time kernel on request, and refuses a kernel for any other policy", async () => {
    const teacher = smallPolicy(3);
    const student = StudentPolicy.fromTeacher(teacher);
    const path = join(dir, 'student.fpk');
    saveCheckpoint(path, { config: student.config, stats: student.stats, weights: student.params.toWeights() });
    const base = { policy: path, task: 'pusht', episodes: 1, seed: 7, maxSteps: 20, workers: 1, recordEpisodes: 1 };
    const [float, int16] = [await evaluate(base), await evaluate({ ...base, kernel: 'wasm-int16' })];
    expect(float.summary.kernel).toBeUndefined();
    expect(int16.summary).toMatchObject({ policyKind: 'student', kernel: 'wasm-int16' });
    // The same noise through quantised products: nearly the same agent path (state[0..1] is the agent, in pixels), not the same bits.
    const a = float.results[0].states!;
    const b = int16.results[0].states!;
    expect(b).toHaveLength(a.length);
    expect(b).not.toEqual(a);
    for (let i = 0; i < a.length; i++) expect(Math.hypot(a[i][0] - b[i][0], a[i][1] - b[i][1])).toBeLessThan(0.5);
    await expect(evaluate({ ...base, kernel: 'int8' })).rejects.toThrow("kernel = \"int8\", expected one of wasm-simd, wasm-int16, js");
    await expect(evaluate({ ...base, policy: save(teacher, 'teacher-kernel.fpk'), kernel: 'wasm-int16' })).rejects.toThrow(/kernel = "wasm-int16", expected a policy with a real-time path \(an MLP student\); .*teacher-kernel.fpk is a flow policy/);
    await expect(evaluate({ ...base, policy: 'scripted:pusht-pusher', kernel: 'js' })).rejects.toThrow(/scripted:pusht-pusher is a scripted policy/);
  });

  it('refuses a checkpoint whose observation does not match the task, before running anything', async () => {
    const config = smallConfig();
    const wrong = FlowPolicyConfig.parse({
      ...config,
      observation: { ...config.observation, features: [config.observation.features[0], { key: 'observation.state', shape: [3] }] },
    });
    const stats = { ...workspaceStats(), 'observation.state': computeStats(Float32Array.from({ length: 30 }, (_, i) => i), 3) };
    const policy = FlowPolicy.initialize(wrong, stats, 0);
    const path = save(policy, 'wrong.fpk');
    await expect(evaluate({ policy: path, task: 'pusht', episodes: 2, seed: 0 })).rejects.toThrow(/observation.state.*shape.*\[3\].*\[2\]/);
  });
});

describe('flowpolicy eval / sim replay (built CLI)', () => {
  it('evaluates, writes eval.json and report.html, and reports bad input with exit code 2', () => {
    const out = join(dir, 'eval-run');
    const r = runCli(['eval', 'scripted:pusht-pusher', '--episodes', '4', '--workers', '2', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ task: 'pusht', episodes: 4, firstSeed: 100000 });
    const written = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(written.episodes).toHaveLength(4);
    expect(written.summary.meanMaxReward).toBe(summary.meanMaxReward);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('mean max reward');

    const bad = runCli(['eval', 'scripted:pusht-pusher', '--task', 'pushy']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/task.*pushy.*pusht/);
    const missing = runCli(['eval', join(dir, 'nope.fpk')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/policy.*nope\.fpk/);
    expect(existsSync(join(dir, 'nope.fpk'))).toBe(false);
  });

  it('replays recorded episodes and prints the fidelity figures', () => {
    const r = runCli(['sim', 'replay', new URL('../../../shared/datasets/pusht_cchi_v7_replay.zarr', import.meta.url).pathname, '--episodes', '0-9', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.episodes).toBe(10);
    expect(s.medianPositionErrorFirstSteps).toBeLessThan(5);
    expect(s.medianFinalCoverageDifference).toBeLessThan(0.05);
  });

  it('records a scripted expert as a dataset that loads and replays exactly', () => {
    const out = join(dir, 'arm.zarr');
    const r = runCli(['sim', 'record', '--task', 'arm-reach', '--policy', 'scripted:arm-reach-expert', '--episodes', '5', '--seed', '3', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ numEpisodes: 5, successRate: 1 });
    const replay = runCli(['sim', 'replay', out, '--task', 'arm-reach', '--json']);
    const s = JSON.parse(replay.stdout);
    expect(s.episodes).toBe(5);
    // Same simulator, actions stored as float32: the replay retraces the recording.
    expect(s.medianPositionErrorFirstSteps).toBeLessThan(1e-5);
    expect(s.meanFinalCoverage).toBeGreaterThan(0.8);
    expect(Math.abs(s.meanFinalCoverage - s.meanRecordedFinalCoverage)).toBeLessThan(1e-5);
    // Writing over an existing dataset is refused, and the dataset is left intact.
    const again = runCli(['sim', 'record', '--task', 'arm-reach', '--policy', 'scripted:arm-reach-expert', '--episodes', '1', '--out', out]);
    expect(again.code).toBe(2);
    expect(runCli(['sim', 'replay', out, '--task', 'arm-reach', '--json']).stdout).toBe(replay.stdout);
    // A policy for another task is refused with the mismatch named.
    const wrong = runCli(['sim', 'record', '--task', 'pusht', '--policy', 'scripted:arm-reach-expert', '--episodes', '1', '--out', join(dir, 'x.zarr')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/observation/);
  });
});
