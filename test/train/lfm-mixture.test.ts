import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { Rng } from '../../src/core/rng.js';
import { EpisodeDataset } from '../../src/data/episode-dataset.js';
import { slicedWasserstein } from '../../src/flow/sliced-wasserstein.js';
import { loadPolicy } from '../../src/policy/checkpoint.js';
import { LocalFlowPolicy } from '../../src/policy/local-flow-policy.js';
import { RunConfig, type RunConfigInput } from '../../src/train/config.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { trainLocalFlowPolicy } from '../../src/train/lfm-trainer.js';
import { TEST_BACKEND } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * LFM against flow matching on a 2-D conditional mixture with a known
 * density, at the same total parameter count and the same training budget
 * (optimizer steps x batch): the condition is u in [-1, 1]; the action
 * (x, y) has x = u and y = +-(1 + u / 2), the upper mode with weight 0.65,
 * plus isotropic Gaussian noise of std 0.12.
 *
 * Measured on wasm with these seeds (SW_1 averaged over 4 conditions,
 * 2048 samples each; the estimator's own floor, true vs true, is 0.017):
 * after 4000 steps FM with one 3,578-parameter MLP reaches 0.026 and a
 * two-block chain of 1,758-parameter MLPs 0.032. Exact log-likelihoods of
 * held-out points, minus the true log-density: mean -0.06 nats for FM,
 * -0.13 for the chain (mean absolute 0.18 and 0.24). In scratch runs on the
 * same problem, three or four blocks did worse than two, the trigonometric
 * interpolant worse than the linear one, and at 1000 steps (13.5k
 * parameters) the chain trailed clearly (SW_1 0.18-0.23 against 0.11-0.13,
 * 512 samples). So at a matched budget the chain does not beat flow
 * matching here: it comes within about a quarter of it once the budget is
 * long. The test pins that relation, with room for other backends' numbers,
 * not a win.
 */
const MIX = { upper: 0.65, std: 0.12 };
const modeY = (u: number, upper: boolean): number => (upper ? 1 : -1) * (1 + 0.5 * u);
const TEST_US = [-0.8, -0.3, 0.2, 0.7];

function drawAction(u: number, rng: Rng, out: Float32Array, at: number): void {
  const upper = rng.uniform() < MIX.upper;
  out[at] = u + MIX.std * rng.normal();
  out[at + 1] = modeY(u, upper) + MIX.std * rng.normal();
}

/** log p(x, y | u), natural log, in dataset units. */
function trueLogDensity(u: number, x: number, y: number): number {
  const s2 = MIX.std * MIX.std;
  const gauss = (d2: number): number => Math.exp(-d2 / (2 * s2)) / (2 * Math.PI * s2);
  const dx2 = (x - u) ** 2;
  return Math.log(MIX.upper * gauss(dx2 + (y - modeY(u, true)) ** 2) + (1 - MIX.upper) * gauss(dx2 + (y - modeY(u, false)) ** 2));
}

function mixtureDataset(episodes: number, frames: number, seed: number): EpisodeDataset {
  const rng = new Rng(seed);
  const n = episodes * frames;
  const cond = new Float32Array(n);
  const action = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    cond[i] = 2 * rng.uniform() - 1;
    drawAction(cond[i], rng, action, 2 * i);
  }
  const ends = Int32Array.from({ length: episodes }, (_, e) => (e + 1) * frames);
  return new EpisodeDataset({ 'observation.state': { shape: [1], data: cond }, action: { shape: [2], data: action } }, ends, { source: 'mixture (synthetic)', format: 'memory', fps: 10 });
}

/**
 * Per block: hidden^2 + 15 hidden + 554 parameters (two hidden layers,
 * time embedding 8). FM: hidden 48 -> 3,578; LFM, 2 blocks: hidden 28 ->
 * 2 x 1,758 = 3,516.
 */
function runConfig(hidden: number, policy: Partial<RunConfigInput['policy']> = {}): RunConfig {
  return RunConfig.parse({
    dataset: { path: 'mixture (synthetic)', obsKeys: ['observation.state'], actionKey: 'action', valRatio: 0.125, maxTrainEpisodes: null },
    policy: { obsHorizon: 1, predHorizon: 1, actionHorizon: 1, net: { kind: 'mlp', hidden, layers: 2, timeEmbedDim: 8 }, inference: { method: 'rk4', steps: 8 }, ...policy },
    train: { steps: 4000, batchSize: 256, lr: 3e-3, warmupSteps: 50, logEvery: 500, evalEvery: 4000, saveEvery: 4000, seed: 1 },
  });
}

/** A flow policy as a chain of one block (same weights, same sampler), for its likelihood. */
function asChain(path: string): LocalFlowPolicy {
  const flow = loadPolicy(path, { kind: 'flow' }).policy;
  const chain = LocalFlowPolicy.fromFlowPolicy(flow);
  flow.dispose();
  return chain;
}

/** Mean over the test conditions of SW_1(generated, fresh true samples), in dataset units. */
function mixtureScore(policy: LocalFlowPolicy, seed: number, n = 2048): number {
  const rng = new Rng(seed);
  let total = 0;
  for (const u of TEST_US) {
    const cond = new Float32Array(n).fill(policy.normalizer.normalize('observation.state', [u])[0]);
    const gen = policy.normalizer.unnormalize('action', policy.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n).chunks);
    const truth = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) drawAction(u, rng, truth, 2 * i);
    total += slicedWasserstein(gen, truth, 2, { seed, p: 1 });
  }
  return total / TEST_US.length;
}

function noiseFloor(seed: number, n = 2048): number {
  const rng = new Rng(seed);
  let total = 0;
  for (const u of TEST_US) {
    const a = new Float32Array(2 * n);
    const b = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      drawAction(u, rng, a, 2 * i);
      drawAction(u, rng, b, 2 * i);
    }
    total += slicedWasserstein(a, b, 2, { seed, p: 1 });
  }
  return total / TEST_US.length;
}

/** Held-out (u, action) pairs: the model's exact log-likelihood against the true log-density, both in dataset units. */
function likelihoodErrors(policy: LocalFlowPolicy, seed: number, steps: number, m = 256): { mean: number; meanAbs: number; model: Float64Array } {
  const rng = new Rng(seed);
  const us = new Float64Array(m);
  const cond = new Float32Array(m);
  const action = new Float32Array(2 * m);
  for (let i = 0; i < m; i++) {
    us[i] = 2 * rng.uniform() - 1;
    drawAction(us[i], rng, action, 2 * i);
    cond[i] = policy.normalizer.normalize('observation.state', [us[i]])[0];
  }
  const ll = policy.logLikelihoodNormalized(cond, policy.normalizer.normalize('action', action), m, { method: 'rk4', steps });
  const model = ll.logLikelihood.map((v) => v + policy.logJacobian);
  let mean = 0;
  let meanAbs = 0;
  for (let i = 0; i < m; i++) {
    const d = model[i] - trueLogDensity(us[i], action[2 * i], action[2 * i + 1]);
    mean += d / m;
    meanAbs += Math.abs(d) / m;
  }
  return { mean, meanAbs, model };
}

describe('LFM and flow matching on a 2-D conditional mixture, same parameters and budget', () => {
  let fm: LocalFlowPolicy;
  let lfm: LocalFlowPolicy;
  let params: { fm: number; lfm: number };

  beforeAll(async () => {
    await useBackend(TEST_BACKEND);
    const dir = tempDir();
    const dataset = mixtureDataset(8, 512, 11);
    const a = await trainFlowPolicy(runConfig(48), { runDir: join(dir, 'fm'), dataset });
    const b = await trainLocalFlowPolicy(runConfig(28, { kind: 'lfm', lfm: { schedule: { kind: 'cosine', blocks: 2 } } }), { runDir: join(dir, 'lfm'), dataset });
    params = { fm: a.parameters, lfm: b.parameters };
    fm = asChain(a.checkpointPath);
    lfm = loadPolicy(b.checkpointPath, { kind: 'lfm' }).policy;
  }, 300_000);

  it('trains both with the same parameter count (within 2%) and steps', () => {
    expect(params).toEqual({ fm: 3578, lfm: 3516 });
    expect(lfm.numBlocks).toBe(2);
  });

  it('the chain samples the conditional distribution nearly as well as flow matching (SW_1 within 1.5x)', () => {
    const floor = noiseFloor(6);
    const sw = { fm: mixtureScore(fm, 5), lfm: mixtureScore(lfm, 5), floor };
    const summary = JSON.stringify(sw);
    // The README's figures come from this line.
    console.info(`sliced Wasserstein: ${summary}`);
    expect(floor, summary).toBeLessThan(0.025);
    expect(sw.fm, summary).toBeLessThan(0.04);
    expect(sw.lfm, summary).toBeLessThan(0.045);
    expect(sw.lfm, summary).toBeLessThan(1.5 * sw.fm);
  });

  it('its exact log-likelihood of held-out points is within a few tenths of a nat of the true log-density', () => {
    const chain = likelihoodErrors(lfm, 8, 16);
    const flow = likelihoodErrors(fm, 8, 16);
    const summary = JSON.stringify({ lfm: { mean: chain.mean, meanAbs: chain.meanAbs }, fm: { mean: flow.mean, meanAbs: flow.meanAbs } });
    console.info(`log-likelihood minus truth: ${summary}`);
    // mean(model - true) estimates -KL(p || model): at most 0 up to sampling noise.
    expect(chain.mean, summary).toBeLessThan(0.05);
    expect(chain.mean, summary).toBeGreaterThan(-0.3);
    expect(chain.meanAbs, summary).toBeLessThan(0.35);
    // The integration is converged: twice the steps moves it by hundredths of a nat at most.
    const finer = likelihoodErrors(lfm, 8, 32);
    let worst = 0;
    let mean = 0;
    finer.model.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - chain.model[i]));
      mean += Math.abs(v - chain.model[i]) / finer.model.length;
    });
    expect(mean, summary).toBeLessThan(0.02);
    expect(worst, summary).toBeLessThan(0.15);
  });
});
