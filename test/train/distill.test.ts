import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { CorruptFileError, InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { EpisodeDataset } from '../../src/data/episode-dataset.js';
import type { Normalizer } from '../../src/data/normalizer.js';
import { writeEpisodes, type Episode } from '../../src/data/export/episode-writer.js';
import { loadDataset } from '../../src/data/load-dataset.js';
import { loadPolicy, readCheckpoint, saveCheckpoint } from '../../src/policy/checkpoint.js';
import type { FlowPolicy } from '../../src/policy/flow-policy.js';
import { refineStudent } from '../../src/policy/refine-student.js';
import { StudentPolicy } from '../../src/policy/student-policy.js';
import { studentConfigFor } from '../../src/policy/student-config.js';
import { RunConfig } from '../../src/train/config.js';
import { DistillConfig, type DistillConfigInput } from '../../src/train/distill-config.js';
import { DISTILL_FILES, distillStudent } from '../../src/train/distill-trainer.js';
import { reflowTeacher } from '../../src/train/reflow-trainer.js';
import { trainFlowPolicy } from '../../src/train/flow-trainer.js';
import { MetricsLog } from '../../src/train/metrics-log.js';
import { slicedWasserstein } from '../../src/flow/sliced-wasserstein.js';
import { partPath } from '../../src/train/teacher-cache.js';
import { loadTrainState, saveTrainState } from '../../src/train/train-state.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

/**
 * A 2-D conditional mixture with known modes: the condition is u in [-1, 1]
 * (the observation), the action (x, y) has x = u and y = +-(1 + u / 2), the
 * upper mode with weight 0.65, plus Gaussian noise of std 0.12. Its
 * conditional mean, y = 0.3 (1 + u / 2), lies between the two modes, where
 * a student regressed onto teacher samples ends up.
 */
const MIX = { weights: [0.65, 0.35], std: 0.12 };
const modeY = (u: number, mode: number): number => (mode === 0 ? 1 : -1) * (1 + 0.5 * u);
const TEST_US = [-0.8, -0.3, 0.2, 0.7];
/** A sample counts as on a mode within this distance of its centre (3.3 std). */
const ON_MODE = 0.4;

async function writeMixture(path: string, episodes: number, frames: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const eps = Array.from({ length: episodes }, () => {
    const state: Float32Array[] = [];
    const action: Float32Array[] = [];
    for (let f = 0; f < frames; f++) {
      const u = 2 * rng.uniform() - 1;
      const mode = rng.uniform() < MIX.weights[0] ? 0 : 1;
      state.push(Float32Array.of(u));
      action.push(Float32Array.of(u + MIX.std * rng.normal(), modeY(u, mode) + MIX.std * rng.normal()));
    }
    return { features: { 'observation.state': state, action } };
  });
  await writeEpisodes(path, eps, { fps: 10 });
}

interface ModeStats {
  /** Per test condition: share of on-mode samples on the upper mode. */
  upper: number[];
  /** Share of samples within ON_MODE of a mode centre. */
  onMode: number;
}

/** Sort samples of each test condition into the two modes. `sample` maps normalised conditions to normalised actions. */
function modeStats(teacher: { normalizer: Normalizer }, sample: (cond: Float32Array, n: number, rng: Rng) => Float32Array, n = 400): ModeStats {
  const rng = new Rng(9);
  const upper: number[] = [];
  let on = 0;
  for (const u of TEST_US) {
    const cond = new Float32Array(n).fill(teacher.normalizer.normalize('observation.state', [u])[0]);
    const xy = teacher.normalizer.unnormalize('action', sample(cond, n, rng));
    let up = 0;
    let down = 0;
    for (let i = 0; i < n; i++) {
      const d = [0, 1].map((m) => Math.hypot(xy[2 * i] - u, xy[2 * i + 1] - modeY(u, m)));
      if (Math.min(d[0], d[1]) > ON_MODE) continue;
      if (d[0] < d[1]) up++;
      else down++;
    }
    upper.push(up / Math.max(1, up + down));
    on += (up + down) / n;
  }
  return { upper, onMode: on / TEST_US.length };
}

const dir = tempDir();
const datasetPath = join(dir, 'mixture.zarr');
const teacherDir = join(dir, 'teacher');
const cacheDir = join(dir, 'cache');
let dataset: EpisodeDataset;
let teacher: FlowPolicy;

/** The distillation config of these tests: the shared cache, small batches. */
const distill = (extra: Partial<DistillConfigInput> & { train?: DistillConfigInput['train'] } = {}): DistillConfig =>
  DistillConfig.parse({
    teacher: teacherDir,
    ...extra,
    cache: { k: 8, solver: { method: 'euler', steps: 40 }, partWindows: 128, dir: cacheDir, ...extra.cache },
    train: { steps: 300, batchSize: 32, lr: 3e-3, warmupSteps: 20, logEvery: 25, saveEvery: 300, seed: 1, ...extra.train },
  });

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
  await writeMixture(datasetPath, 4, 192, 11);
  dataset = await loadDataset(datasetPath);
  const r = await trainFlowPolicy(
    RunConfig.parse({
      dataset: { path: datasetPath, obsKeys: ['observation.state'], actionKey: 'action', valRatio: 0.25, maxTrainEpisodes: null },
      policy: { obsHorizon: 1, predHorizon: 1, actionHorizon: 1, net: { kind: 'mlp', hidden: 96, layers: 2, timeEmbedDim: 16 } },
      train: { steps: 1000, batchSize: 256, lr: 6e-3, warmupSteps: 50, logEvery: 500, evalEvery: 1000, saveEvery: 1000, seed: 1 },
    }),
    { runDir: teacherDir, dataset },
  );
  teacher = loadPolicy(r.checkpointPath, { kind: 'flow' }).policy;
}, 300_000);

describe('IMLE distillation on a conditional mixture', () => {
  let imle: StudentPolicy;
  let regression: StudentPolicy;
  let pairs: StudentPolicy;

  beforeAll(async () => {
    const a = await distillStudent(distill({ objective: { kind: 'imle', m: 16 } }), { runDir: join(dir, 'imle'), dataset });
    expect(a.cache.builtParts).toBe(5); // 3 training episodes x 192 windows, 128 per part
    const b = await distillStudent(distill({ objective: { kind: 'regression' }, train: { steps: 100 } }), { runDir: join(dir, 'regression'), dataset });
    expect(b.cache).toMatchObject({ builtParts: 0, reusedParts: 5 }); // the same cached teacher samples
    imle = loadPolicy(a.checkpointPath, { kind: 'student' }).policy;
    regression = loadPolicy(b.checkpointPath, { kind: 'student' }).policy;
    const c = await distillStudent(distill({ objective: { kind: 'pairs' } }), { runDir: join(dir, 'pairs'), dataset });
    pairs = loadPolicy(c.checkpointPath, { kind: 'student' }).policy;
  }, 300_000);

  it('the IMLE student covers both modes with the teacher\'s weights; the regression student collapses between them', () => {
    const t = modeStats(teacher, (cond, n, rng) => teacher.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps: 40 }).chunks);
    const s = modeStats(imle, (cond, n, rng) => imle.generateNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n));
    const r = modeStats(regression, (cond, n, rng) => regression.generateNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n));
    const summary = JSON.stringify({ teacher: t, imle: s, regression: r });
    // The teacher is multimodal, near the true weights.
    expect(t.onMode, summary).toBeGreaterThan(0.85);
    for (const w of t.upper) expect(Math.abs(w - MIX.weights[0]), summary).toBeLessThan(0.12);
    // IMLE: most samples on a mode, both modes used, with the teacher's weights.
    expect(s.onMode, summary).toBeGreaterThan(0.65);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(Math.abs(mean(s.upper) - mean(t.upper)), summary).toBeLessThan(0.1);
    s.upper.forEach((w, i) => {
      expect(Math.abs(w - t.upper[i]), summary).toBeLessThan(0.2);
      expect(Math.min(w, 1 - w), summary).toBeGreaterThan(0.2);
    });
    // Regression: its samples fall between the modes.
    expect(r.onMode, summary).toBeLessThan(0.3);
    expect(s.onMode - r.onMode, summary).toBeGreaterThan(0.4);
  });

  it("the pairs student learns the teacher's own noise-to-sample map, so it keeps the modes too", () => {
    // Fresh noise: G(z, c) against the teacher's 40-step ODE solution from the same z.
    const rng = new Rng(21);
    const n = 512;
    const cond = new Float32Array(n);
    for (let i = 0; i < n; i++) cond[i] = teacher.normalizer.normalize('observation.state', [2 * rng.uniform() - 1])[0];
    const z = rng.fillNormal(new Float32Array(2 * n));
    const target = teacher.sampleNormalized(cond, z, n, { method: 'euler', steps: 40 }).chunks;
    const distance = (x: Float32Array) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += Math.hypot(x[2 * i] - target[2 * i], x[2 * i + 1] - target[2 * i + 1]) / n;
      return sum;
    };
    const warmStart = distance(teacher.sampleNormalized(cond, z, n, { method: 'euler', steps: 1 }).chunks);
    const learned = distance(pairs.generateNormalized(cond, z, n));
    const imleMap = distance(imle.generateNormalized(cond, z, n));
    const summary = JSON.stringify({ warmStart, learned, imleMap });
    expect(learned, summary).toBeLessThan(0.5 * warmStart);
    // IMLE matches distributions, not this map.
    expect(learned, summary).toBeLessThan(0.5 * imleMap);
    const t = modeStats(teacher, (c, m, r) => teacher.sampleNormalized(c, r.fillNormal(new Float32Array(2 * m)), m, { method: 'euler', steps: 40 }).chunks);
    const p = modeStats(pairs, (c, m, r) => pairs.generateNormalized(c, r.fillNormal(new Float32Array(2 * m)), m));
    expect(p.onMode, JSON.stringify({ t, p })).toBeGreaterThan(0.65);
    p.upper.forEach((w, i) => expect(Math.abs(w - t.upper[i]), JSON.stringify({ t, p })).toBeLessThan(0.2));
  });

  it('refuses the pairs objective with a latent of another size than the chunk, and matching with fewer student than teacher samples', async () => {
    await expect(distillStudent(distill({ objective: { kind: 'pairs' }, student: { latentDim: 3 } }), { runDir: join(dir, 'pairs-latent'), dataset })).rejects.toThrow(
      "student.latentDim = 3, expected the chunk size 2 (objective 'pairs' feeds the student the teacher's own noise)",
    );
    expect(existsSync(join(dir, 'pairs-latent'))).toBe(false);
    await expect(distillStudent(distill({ objective: { m: 4, assignment: 'matching' } }), { runDir: join(dir, 'matching-m'), dataset })).rejects.toThrow(
      "objective.m = 4, expected at least K = 8 with assignment 'matching'",
    );
  });

  it("trains a student of its own network from fresh weights, and refuses the teacher's warm start for it", async () => {
    const net = { kind: 'mlp' as const, hidden: 64, layers: 3, timeEmbedDim: 16 };
    await expect(distillStudent(distill({ objective: { kind: 'pairs' }, student: { net } }), { runDir: join(dir, 'own-net-warm'), dataset })).rejects.toThrow(
      /student\.warmStart = true, expected false when student\.net differs from the teacher's network \{"kind":"mlp","hidden":96,"layers":2/,
    );
    expect(existsSync(join(dir, 'own-net-warm'))).toBe(false);
    const r = await distillStudent(distill({ objective: { kind: 'pairs' }, student: { net, warmStart: false }, train: { steps: 600, saveEvery: 600 } }), { runDir: join(dir, 'own-net'), dataset });
    const c = readCheckpoint(r.checkpointPath, { kind: 'student' });
    expect(c.config.net).toEqual({ ...net, activation: 'mish' });
    expect([...c.weights.keys()].filter((k) => k.startsWith('mlp.') && k.endsWith('.weight'))).toHaveLength(4);
    const own = loadPolicy(r.checkpointPath, { kind: 'student' }).policy;
    const t = modeStats(teacher, (cond, n, rng) => teacher.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps: 40 }).chunks);
    const p = modeStats(own, (cond, n, rng) => own.generateNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n));
    console.log(`own network (3x64, cold): on-mode ${p.onMode.toFixed(2)}, upper-mode weights ${p.upper.map((w) => w.toFixed(2)).join(' ')} (teacher ${t.upper.map((w) => w.toFixed(2)).join(' ')})`);
    expect(p.onMode, JSON.stringify({ t, p })).toBeGreaterThan(0.65);
    p.upper.forEach((w, i) => expect(Math.abs(w - t.upper[i]), JSON.stringify({ t, p })).toBeLessThan(0.2));
    own.dispose();
  });

  describe('an anchored student: a discrete latent and a gate', () => {
    const anchored = (extra: Partial<DistillConfigInput['student']> = {}, train: DistillConfigInput['train'] = {}) =>
      distill({
        student: { init: join(dir, 'imle'), anchors: { count: 8, hidden: 32, fit: { steps: 400, batchSize: 128, lr: 3e-3 } }, ...extra },
        objective: { kind: 'imle', m: 8 },
        train: { steps: 200, ...train },
      });
    let path: string;

    beforeAll(async () => {
      path = (await distillStudent(anchored(), { runDir: join(dir, 'anchors'), dataset })).checkpointPath;
    }, 300_000);

    it("puts every anchor's chunk on a mode, and its gate draws them with the teacher's mode weights", () => {
      const c = readCheckpoint(path, { kind: 'student' });
      expect(c.config.anchors).toEqual({ count: 8, hidden: 32, layers: 2 });
      const gate = c.meta.gate as { fitted: boolean; valLoss: number; uniformLoss: number; targetEntropy: number };
      expect(gate).toMatchObject({ fitted: true, uniformLoss: expect.closeTo(Math.log(8), 5) });
      // The fitted gate predicts the shares better than a uniform one on held-out windows.
      expect(gate.valLoss).toBeLessThan(gate.uniformLoss - 0.05);
      expect(c.meta.init).toBe(join(dir, 'imle', DISTILL_FILES.checkpoint));
      const s = loadPolicy(path, { kind: 'student' }).policy;
      const t = modeStats(teacher, (cond, n, rng) => teacher.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps: 40 }).chunks);
      const a = modeStats(s, (cond, n, rng) => s.generateNormalized(cond, s.drawLatents(cond, n, rng), n));
      const g = modeStats(imle, (cond, n, rng) => imle.generateNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n));
      const summary = JSON.stringify({ teacher: t, anchored: a, gaussian: g });
      console.log(`anchored student on the mixture: on a mode ${a.onMode.toFixed(2)} (the Gaussian-latent IMLE student ${g.onMode.toFixed(2)}), upper-mode weights ${a.upper.map((w) => w.toFixed(2)).join(' ')} (teacher ${t.upper.map((w) => w.toFixed(2)).join(' ')})`);
      // No latent between the anchors: nothing falls between the modes.
      expect(a.onMode, summary).toBeGreaterThan(0.9);
      expect(a.onMode, summary).toBeGreaterThan(g.onMode);
      a.upper.forEach((w, i) => expect(Math.abs(w - t.upper[i]), summary).toBeLessThan(0.15));
      s.dispose();
    });

    it('a distillation stopped while its gate is fitted resumes to the same checkpoint; the unfitted one draws uniformly', async () => {
      const controller = new AbortController();
      const cut = await distillStudent(anchored(), { runDir: join(dir, 'anchors-cut'), dataset, signal: controller.signal, hooks: { onGateProgress: ({ step }) => step === 150 && controller.abort() } });
      expect(cut).toMatchObject({ step: 200, interrupted: true });
      const before = readCheckpoint(cut.checkpointPath, { kind: 'student' });
      expect(before.meta.gate).toEqual({ fitted: false });
      // Until fitted, the gate is uniform: its output layer is zero.
      expect(before.weights.get('gate.out.weight')!.data.every((v) => v === 0)).toBe(true);
      const resumed = await distillStudent(anchored(), { runDir: join(dir, 'anchors-cut'), dataset, resume: true });
      expect(resumed).toMatchObject({ step: 200, interrupted: false });
      const a = readCheckpoint(path).weights;
      const b = readCheckpoint(resumed.checkpointPath).weights;
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [name, w] of a) expect(b.get(name)!.data, name).toEqual(w.data);
    });

    it('refuses anchors without IMLE or with another m, and a starting student that does not fit, before writing anything', async () => {
      await expect(distillStudent(distill({ student: { anchors: { count: 8 } } }), { runDir: join(dir, 'anchors-m'), dataset })).rejects.toThrow(
        'objective.m = 16, expected student.anchors.count = 8 (with anchors, each observation\'s m student samples are the anchors)',
      );
      await expect(distillStudent(distill({ student: { anchors: { count: 8 } }, objective: { kind: 'regression', m: 8 } }), { runDir: join(dir, 'anchors-reg'), dataset })).rejects.toThrow(
        "objective.kind = \"regression\", expected 'imle' with student.anchors",
      );
      await expect(distillStudent(anchored({ init: teacherDir }), { runDir: join(dir, 'anchors-init-teacher'), dataset })).rejects.toThrow(/config\.kind = "flow", expected 'student'/);
      const other = StudentPolicy.initialize(studentConfigFor(teacher.config, { net: { kind: 'mlp', hidden: 24, layers: 2, timeEmbedDim: 16, activation: 'mish' } }), { ...teacher.stats }, 0);
      saveCheckpoint(join(dir, 'other-net.fpk'), { config: other.config, stats: { ...other.stats }, weights: other.toWeights() });
      other.dispose();
      await expect(distillStudent(anchored({ init: join(dir, 'other-net.fpk') }), { runDir: join(dir, 'anchors-init-net'), dataset })).rejects.toThrow(
        /student\.init = .*other-net\.fpk.*, expected a student with this student's network \{"kind":"mlp","hidden":96/,
      );
      for (const d of ['anchors-m', 'anchors-reg', 'anchors-init-teacher', 'anchors-init-net']) expect(existsSync(join(dir, d)), d).toBe(false);
    });
  });

  describe("a refined student as the teacher: its two calls learned in one", () => {
    const refinedPath = join(dir, 'refined.fpk');
    const collapsed = (extra: Partial<DistillConfigInput> = {}) =>
      distill({ teacher: refinedPath, dataset: { path: datasetPath }, objective: { kind: 'pairs' }, ...extra, cache: { solver: { method: 'euler', steps: 100 }, dir: join(dir, 'refined-cache'), ...extra.cache } });
    let refined: StudentPolicy;
    let student: StudentPolicy;

    beforeAll(async () => {
      // The pairs student with one step of its teacher from tau = 0.8. Its map z -> G(z) follows the teacher's ODE,
      // so x_tau = tau G(z) + (1 - tau) z lies near the teacher's path from z and eps = z costs nothing; an IMLE
      // trunk has no such tie to z (refined with eps = z, this mixture's IMLE student leaves its modes more often).
      saveCheckpoint(refinedPath, refineStudent(join(dir, 'pairs', DISTILL_FILES.checkpoint), join(teacherDir, DISTILL_FILES.checkpoint), 0.8));
      refined = loadPolicy(refinedPath, { kind: 'student', engine: 'tfjs' }).policy;
      const r = await distillStudent(collapsed(), { runDir: join(dir, 'collapsed'), dataset });
      student = loadPolicy(r.checkpointPath, { kind: 'student' }).policy;
    }, 300_000);

    it('lands on its chunk for the same noise (eps = z), keeping the modes', () => {
      const c = readCheckpoint(join(dir, 'collapsed', DISTILL_FILES.checkpoint), { kind: 'student' });
      expect(c.config.refine).toBeUndefined();
      expect(student.latentDim).toBe(2);
      expect(c.meta).toMatchObject({ teacher: refinedPath, objective: 'pairs' });
      const rng = new Rng(23);
      const n = 512;
      const cond = new Float32Array(n);
      for (let i = 0; i < n; i++) cond[i] = teacher.normalizer.normalize('observation.state', [2 * rng.uniform() - 1])[0];
      const z = rng.fillNormal(new Float32Array(2 * n));
      const tied = new Float32Array(4 * n);
      const free = new Float32Array(4 * n);
      for (let i = 0; i < n; i++) {
        tied.set(z.subarray(2 * i, 2 * i + 2), 4 * i);
        tied.set(z.subarray(2 * i, 2 * i + 2), 4 * i + 2);
        free.set(z.subarray(2 * i, 2 * i + 2), 4 * i);
        free.set(rng.fillNormal(new Float32Array(2)), 4 * i + 2);
      }
      const target = refined.generateNormalized(cond, tied, n);
      const distance = (x: Float32Array, y = target) => {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += Math.hypot(x[2 * i] - y[2 * i], x[2 * i + 1] - y[2 * i + 1]) / n;
        return sum;
      };
      const trunk = distance(pairs.generateNormalized(cond, z, n));
      const learned = distance(student.generateNormalized(cond, z, n));
      // The same trunk draw refined with independent noise: how far the refining noise alone moves a chunk.
      const otherEps = distance(refined.generateNormalized(cond, free, n));
      const summary = JSON.stringify({ trunk, learned, otherEps });
      console.log(`refined student collapsed to one call (mixture, tau 0.8): distance to the refined chunk ${learned.toFixed(3)}, its trunk's ${trunk.toFixed(3)}, the refined chunk with other eps ${otherEps.toFixed(3)}`);
      expect(learned, summary).toBeLessThan(0.5 * trunk);
      expect(learned, summary).toBeLessThan(0.5 * otherEps);
      // As a policy: the refined student's modes and weights (its eps drawn freely, as act() does), sharper than its trunk's.
      const t = modeStats(refined, (cd, m, r) => refined.generateNormalized(cd, r.fillNormal(new Float32Array(4 * m)), m));
      const g = modeStats(pairs, (cd, m, r) => pairs.generateNormalized(cd, r.fillNormal(new Float32Array(2 * m)), m));
      const p = modeStats(student, (cd, m, r) => student.generateNormalized(cd, r.fillNormal(new Float32Array(2 * m)), m));
      const modes = JSON.stringify({ refined: t, trunk: g, student: p });
      console.log(`on a mode: collapsed student ${p.onMode.toFixed(2)}, refined student ${t.onMode.toFixed(2)}, its trunk ${g.onMode.toFixed(2)}`);
      expect(p.onMode, modes).toBeGreaterThan(g.onMode + 0.03);
      expect(Math.abs(p.onMode - t.onMode), modes).toBeLessThan(0.05);
      p.upper.forEach((w, i) => expect(Math.abs(w - t.upper[i]), modes).toBeLessThan(0.15));
    });

    it('refuses a one-step student, an ODE solver for it, and targets other than a student, before writing anything', async () => {
      await expect(distillStudent(collapsed({ teacher: join(dir, 'imle') }), { runDir: join(dir, 'collapse-plain'), dataset })).rejects.toThrow(
        "config.kind = \"student\", expected 'flow' or 'lfm' (a flow-matching teacher or an LFM chain), or a refined student (`flowpolicy refine`): this checkpoint holds a one-step student",
      );
      await expect(distillStudent(collapsed({ cache: { solver: { method: 'euler', steps: 40 } } }), { runDir: join(dir, 'collapse-solver'), dataset })).rejects.toThrow(
        'cache.solver.steps = 40, expected left at 100 with a refined student as the teacher (it makes two network calls, no ODE solve)',
      );
      await expect(reflowTeacher(collapsed({ target: 'reflow', objective: {} }), { runDir: join(dir, 'collapse-reflow'), dataset })).rejects.toThrow(/config\.kind = "student", expected 'flow'/);
      for (const d of ['collapse-plain', 'collapse-solver', 'collapse-reflow']) expect(existsSync(join(dir, d)), d).toBe(false);
    });
  });

  it('writes a student checkpoint, metrics and a resumable state', () => {
    const c = readCheckpoint(join(dir, 'imle', DISTILL_FILES.checkpoint), { kind: 'student' });
    expect(c.config).toMatchObject({ kind: 'student', latentDim: 2, net: { kind: 'mlp', hidden: 96 } });
    expect(c.meta).toMatchObject({ step: 300, objective: 'imle', k: 8, m: 16, epsilon: 0 });
    const records = MetricsLog.read(join(dir, 'imle', DISTILL_FILES.metrics));
    expect(records.map((x) => x.step)).toEqual(Array.from({ length: 12 }, (_, i) => 25 * (i + 1)));
    expect(records[records.length - 1].loss as number).toBeLessThan(records[0].loss as number);
    expect(records[0].distinctSelected as number).toBeGreaterThan(1);
    expect(loadTrainState(join(dir, 'imle', DISTILL_FILES.state)).step).toBe(300);
  });
});

describe('reflow: the teacher retrained on its own (noise, sample) pairs', () => {
  let reflowed: FlowPolicy;
  const reflowDir = join(dir, 'reflow');

  beforeAll(async () => {
    const r = await reflowTeacher(distill({ target: 'reflow', train: { steps: 600, batchSize: 256, lr: 3e-3, warmupSteps: 50, logEvery: 100, saveEvery: 600 } }), { runDir: reflowDir, dataset });
    expect(r.cache.builtParts + r.cache.reusedParts).toBe(5); // the IMLE students' cache (whichever runs first draws it)
    reflowed = loadPolicy(r.checkpointPath, { kind: 'flow' }).policy;
  }, 300_000);

  it("lands near the teacher's 40-step samples in one Euler step, where the teacher's own step falls between the modes", () => {
    const euler = (p: FlowPolicy, steps: number) => (cond: Float32Array, n: number, rng: Rng) => p.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps }).chunks;
    const t40 = modeStats(teacher, euler(teacher, 40));
    const t1 = modeStats(teacher, euler(teacher, 1));
    const r1 = modeStats(reflowed, euler(reflowed, 1));
    const r40 = modeStats(reflowed, euler(reflowed, 40));
    // Against the teacher's 40-step samples over fresh conditions and noise.
    const rng = new Rng(33);
    const n = 2000;
    const cond = new Float32Array(n);
    for (let i = 0; i < n; i++) cond[i] = teacher.normalizer.normalize('observation.state', [2 * rng.uniform() - 1])[0];
    const target = teacher.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps: 40 }).chunks;
    const sw = (p: FlowPolicy, steps: number) => slicedWasserstein(p.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps }).chunks, target, 2);
    const distance = { teacher1: sw(teacher, 1), reflowed1: sw(reflowed, 1), teacher40: sw(teacher, 40) };
    const summary = JSON.stringify({ t40, t1, r1, r40, distance });
    // The README quotes these figures.
    console.log(`reflow on the mixture: on a mode at 1 Euler step, teacher ${t1.onMode.toFixed(2)}, reflowed ${r1.onMode.toFixed(2)}; sliced Wasserstein to the teacher's 40-step samples, teacher at 1 step ${distance.teacher1.toFixed(3)}, reflowed ${distance.reflowed1.toFixed(3)} (teacher at 40 steps ${distance.teacher40.toFixed(3)})`);
    expect(t1.onMode, summary).toBeLessThan(0.5);
    expect(r1.onMode, summary).toBeGreaterThan(0.7);
    r1.upper.forEach((w, i) => expect(Math.abs(w - t40.upper[i]), summary).toBeLessThan(0.15));
    expect(distance.reflowed1, summary).toBeLessThan(0.3 * distance.teacher1);
    // Many steps still give the teacher's distribution.
    expect(r40.onMode, summary).toBeGreaterThan(0.85);
    r40.upper.forEach((w, i) => expect(Math.abs(w - t40.upper[i]), summary).toBeLessThan(0.12));
  });

  it('writes a flow checkpoint that names its teacher, and a student distils from its run folder, dataset found through it', async () => {
    const c = readCheckpoint(join(reflowDir, DISTILL_FILES.checkpoint), { kind: 'flow' });
    expect(c.config).toEqual(teacher.config);
    expect(c.meta).toMatchObject({ step: 600, distilled: 'reflow', teacher: join(teacherDir, 'checkpoint.fpk'), k: 8 });
    expect(loadTrainState(join(reflowDir, DISTILL_FILES.state)).step).toBe(600);
    // No dataset given: the reflow run's config names none, so its teacher's run config is read.
    const s = await distillStudent(distill({ teacher: reflowDir, cache: { dir: join(dir, 'reflow-cache'), solver: { method: 'euler', steps: 4 } }, train: { steps: 2 } }), { runDir: join(dir, 'reflow-student') });
    expect(s).toMatchObject({ step: 2, cache: { builtParts: 5 } });
    expect(readCheckpoint(s.checkpointPath).meta).toMatchObject({ teacher: join(reflowDir, DISTILL_FILES.checkpoint) });
  });

  it('an interrupted reflow resumed gives the same weights as an uninterrupted one', async () => {
    const small = distill({ target: 'reflow', train: { steps: 12, batchSize: 16, logEvery: 2, saveEvery: 4 } });
    const whole = await reflowTeacher(small, { runDir: join(dir, 'reflow-whole'), dataset });
    const controller = new AbortController();
    const cut = await reflowTeacher(small, { runDir: join(dir, 'reflow-cut'), dataset, signal: controller.signal, hooks: { onStep: ({ step }) => step === 7 && controller.abort() } });
    expect(cut).toMatchObject({ step: 7, interrupted: true });
    const resumed = await reflowTeacher(small, { runDir: join(dir, 'reflow-cut'), dataset, resume: true });
    expect(resumed).toMatchObject({ step: 12, interrupted: false });
    const a = readCheckpoint(whole.checkpointPath).weights;
    const b = readCheckpoint(resumed.checkpointPath).weights;
    for (const [name, w] of a) expect(b.get(name)!.data, name).toEqual(w.data);
  });

  it('refuses student and objective settings it would not use, before writing anything', async () => {
    await expect(reflowTeacher(distill({ target: 'reflow', objective: { m: 4 } }), { runDir: join(dir, 'reflow-m'), dataset })).rejects.toThrow(
      "objective.m = 4, expected left unset with target 'reflow'",
    );
    await expect(reflowTeacher(distill({ target: 'reflow', student: { latentDim: 3 } }), { runDir: join(dir, 'reflow-latent'), dataset })).rejects.toThrow(
      "student.latentDim = 3, expected left unset with target 'reflow'",
    );
    await expect(reflowTeacher(distill({ target: 'reflow', student: { net: { kind: 'mlp', hidden: 32 } } }), { runDir: join(dir, 'reflow-net'), dataset })).rejects.toThrow(
      "student.net = an object with keys kind, hidden, layers, timeEmbedDim, activation, expected left unset with target 'reflow'",
    );
    await expect(distillStudent(distill({ target: 'reflow' }), { runDir: join(dir, 'reflow-wrong'), dataset })).rejects.toThrow(/target = "reflow", expected 'student'/);
    for (const d of ['reflow-m', 'reflow-latent', 'reflow-net', 'reflow-wrong']) expect(existsSync(join(dir, d)), d).toBe(false);
  });

  it('runs from the command line as distill --target reflow', () => {
    const out = join(dir, 'cli-reflow');
    const args = ['--target', 'reflow', '--k', '2', '--teacher-steps', '4', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress'];
    const ok = runCli(['distill', teacherDir, '--out', out, ...args, '--steps', '3']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`reflow: the teacher's mlp network, ${teacher.net.registry.count().toLocaleString('en-US')} parameters, on ${2 * 3 * 192} (noise, sample) pairs (K 2)`);
    expect(ok.stdout).toMatch(/^reflow loss +\d/m);
    expect(readCheckpoint(join(out, DISTILL_FILES.checkpoint)).config.kind).toBe('flow');
    const digest = readCheckpoint(join(out, DISTILL_FILES.checkpoint)).meta.teacherSha256 as string;
    const shown = runCli(['inspect', join(out, DISTILL_FILES.checkpoint)]);
    expect(shown.stdout).toMatch(new RegExp(`^teacher +${join(teacherDir, 'checkpoint.fpk')} \\(reflowed, sha256 ${digest.slice(0, 12)}\\)$`, 'm'));
    const bad = runCli(['distill', teacherDir, '--out', join(dir, 'cli-reflow-m'), ...args, '--m', '4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: objective.m = 4, expected left unset with target 'reflow'/m);
    expect(existsSync(join(dir, 'cli-reflow-m'))).toBe(false);
  });
});

describe('states the demonstrations never show, labelled by the teacher: closed-loop observations (DAgger) and jittered copies', () => {
  // A teacher that knows u in [-1, 2.4], where the action turns back at u = 1 (x = 2 - u), distilled
  // on demonstrations of u in [-1, 1] only: a student extrapolates x = u past them unless the states it
  // reaches there are labelled by the teacher.
  const tent = (u: number) => (u <= 1 ? u : 2 - u);
  const VISITED_US = [1.5, 1.9, 2.3];
  const wideDir = join(dir, 'tent-teacher');
  const narrowPath = join(dir, 'tent-narrow.zarr');
  const visitedPath = join(dir, 'tent-visited.zarr');
  let wideTeacher: FlowPolicy;
  let plain: StudentPolicy;
  let aggregated: StudentPolicy;
  let jittered: StudentPolicy;
  let counts = { windows: 0, visited: 0, jittered: 0 };
  let jitterCounts = { windows: 0, visited: 0, jittered: 0 };
  let segments: string[] = [];
  let jitterSegments: string[] = [];

  const write = async (path: string, lo: number, hi: number, episodes: number, seed: number, actions = true) => {
    const rng = new Rng(seed);
    const eps = Array.from({ length: episodes }, (): Episode => {
      const us = Array.from({ length: 96 }, () => lo + (hi - lo) * rng.uniform());
      const state = us.map((u) => Float32Array.of(u));
      if (!actions) return { features: { 'observation.state': state } };
      const action = us.map((u) => Float32Array.of(tent(u) + 0.05 * rng.normal(), (rng.uniform() < 0.65 ? 1 : -1) * (1 + 0.5 * u) + 0.05 * rng.normal()));
      return { features: { 'observation.state': state, action } };
    });
    await writeEpisodes(path, eps, { fps: 10 });
  };

  beforeAll(async () => {
    const widePath = join(dir, 'tent-wide.zarr');
    await write(widePath, -1, 2.4, 8, 12);
    await write(narrowPath, -1, 1, 4, 13);
    // What a policy reached: only the observations count, so a recording without actions will do.
    await write(visitedPath, 1.3, 2.4, 2, 14, false);
    const r = await trainFlowPolicy(
      RunConfig.parse({
        dataset: { path: widePath, obsKeys: ['observation.state'], actionKey: 'action', valRatio: 0, maxTrainEpisodes: null },
        policy: { obsHorizon: 1, predHorizon: 1, actionHorizon: 1, net: { kind: 'mlp', hidden: 96, layers: 2, timeEmbedDim: 16 } },
        train: { steps: 1000, batchSize: 256, lr: 6e-3, warmupSteps: 50, logEvery: 500, evalEvery: 1000, saveEvery: 1000, seed: 1 },
      }),
      { runDir: wideDir },
    );
    wideTeacher = loadPolicy(r.checkpointPath, { kind: 'flow' }).policy;
    const run = async (name: string, extra: Partial<DistillConfigInput>) => {
      const config = distill({ teacher: wideDir, dataset: { path: narrowPath, valRatio: 0, maxTrainEpisodes: null }, cache: { dir: join(dir, 'tent-cache') }, ...extra });
      const result = await distillStudent(config, { runDir: join(dir, name), hooks: { onStart: (s) => (counts = { windows: s.windows, visited: s.visitedWindows, jittered: s.jitteredWindows }) } });
      return { policy: loadPolicy(result.checkpointPath, { kind: 'student' }).policy, cache: result.cache };
    };
    const a = await run('tent-plain', {});
    expect(a.cache).toMatchObject({ builtParts: 3, reusedParts: 0 }); // 4 x 96 windows, 128 per part
    const b = await run('tent-aggregated', { observations: [{ path: visitedPath, every: 2 }] });
    // The training windows' samples are reused; only the visited states are drawn, into a segment of their own.
    expect(b.cache).toMatchObject({ builtParts: 1, reusedParts: 3 });
    segments = readdirSync(join(dir, 'tent-cache')).filter((f) => f.startsWith('observations-'));
    const aggregatedCounts = counts;
    // Jittered copies of the demonstrations reach past their edge at u = 1 by a few sigma (0.2 normalised is 0.34 in u).
    const c = await run('tent-jittered', { jitter: { copies: 2, sigma: 0.2, seed: 3 } });
    expect(c.cache).toMatchObject({ builtParts: 6, reusedParts: 3 });
    jitterSegments = readdirSync(join(dir, 'tent-cache')).filter((f) => f.startsWith('observations-') && !segments.includes(f));
    [jitterCounts, counts] = [counts, aggregatedCounts];
    [plain, aggregated, jittered] = [a.policy, b.policy, c.policy];
  }, 400_000);

  it('adds every n-th window of the recorded episodes to the distilled observations, and keeps them in the config', () => {
    expect(counts).toEqual({ windows: 4 * 96 + 96, visited: 96, jittered: 0 }); // 2 visited episodes x 96 windows, every 2nd
    const cfg = JSON.parse(readFileSync(join(dir, 'tent-aggregated', DISTILL_FILES.config), 'utf8'));
    expect(cfg.observations).toEqual([{ path: visitedPath, every: 2 }]);
    expect(segments).toHaveLength(1);
    expect(readdirSync(join(dir, 'tent-cache', segments[0])).sort()).toEqual(['manifest.json', 'part-00000.fpc']);
  });

  /** Mean |x_student - x_teacher| over samples (x: the action's first value, unnormalised). */
  const xGap = (student: StudentPolicy, us: number[]) => {
    const n = 200;
    let sum = 0;
    for (const u of us) {
      const rng = new Rng(31);
      const cond = new Float32Array(n).fill(wideTeacher.normalizer.normalize('observation.state', [u])[0]);
      const mean = (xy: Float32Array) => xy.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) / n;
      const t = wideTeacher.normalizer.unnormalize('action', wideTeacher.sampleNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n, { method: 'euler', steps: 40 }).chunks);
      const s = wideTeacher.normalizer.unnormalize('action', student.generateNormalized(cond, rng.fillNormal(new Float32Array(2 * n)), n));
      sum += Math.abs(mean(s) - mean(t)) / us.length;
    }
    return sum;
  };

  /** On states `us` past the demonstrations the plain student misses by more than plainMiss, `student` by less than factor times that; on the demonstrations it stays within 0.15. */
  const expectNearerThanPlain = (student: StudentPolicy, us: number[], bar: { plainMiss: number; factor: number }) => {
    const off = { plain: xGap(plain, us), student: xGap(student, us) };
    const on = xGap(student, TEST_US);
    const summary = JSON.stringify({ off, on });
    expect(off.plain, summary).toBeGreaterThan(bar.plainMiss);
    expect(off.student, summary).toBeLessThan(bar.factor * off.plain);
    expect(on, summary).toBeLessThan(0.15);
  };

  it("brings the student's actions on the visited states to the teacher's, where the plain student extrapolates", () => {
    expectNearerThanPlain(aggregated, VISITED_US, { plainMiss: 0.4, factor: 0.4 });
  });

  it("with jittered copies of the demonstrations, learns the teacher's actions just past their edge", () => {
    // Each copy is a segment of its own with noise of its own: the seeds follow the cache seed (0).
    expect(jitterCounts).toEqual({ windows: 3 * 4 * 96, visited: 0, jittered: 2 * 4 * 96 });
    const seeds = jitterSegments.map((f) => JSON.parse(readFileSync(join(dir, 'tent-cache', f, 'manifest.json'), 'utf8')).spec.seed).sort();
    expect(seeds).toEqual([1, 2]);
    expect(JSON.parse(readFileSync(join(dir, 'tent-jittered', DISTILL_FILES.config), 'utf8')).jitter).toEqual({ copies: 2, sigma: 0.2, seed: 3 });
    expectNearerThanPlain(jittered, [1.15, 1.25, 1.35], { plainMiss: 0.2, factor: 0.5 });
  });

  it("refuses a visited dataset without the teacher's features, naming it", async () => {
    const other = join(dir, 'visited-other.zarr');
    await writeEpisodes(other, [{ features: { 'observation.pose': [Float32Array.of(0)], action: [Float32Array.of(0, 0)] } }], { fps: 10 });
    await expect(distillStudent(distill({ observations: [{ path: other }] }), { runDir: join(dir, 'visited-bad'), dataset })).rejects.toThrow(/feature = "observation.state", expected one of observation.pose, action/);
    expect(existsSync(join(dir, 'visited-bad'))).toBe(false);
  });
});

describe('distillation runs: resume, cache, bad input', () => {
  const small = (steps: number) => distill({ objective: { kind: 'imle', m: 8, epsilon: 0.02 }, student: { latentDim: 3 }, train: { steps, batchSize: 8, logEvery: 5, saveEvery: 10 } });

  it('an interrupted distillation resumed gives the same weights as an uninterrupted one', async () => {
    const whole = await distillStudent(small(24), { runDir: join(dir, 'whole'), dataset });
    expect(whole.step).toBe(24);
    const controller = new AbortController();
    const cut = await distillStudent(small(24), {
      runDir: join(dir, 'cut'),
      dataset,
      hooks: { onStep: ({ step }) => step === 13 && controller.abort() },
      signal: controller.signal,
    });
    expect(cut).toMatchObject({ step: 13, interrupted: true });
    expect(readdirSync(join(dir, 'cut')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Reusing the folder without resume is refused.
    await expect(distillStudent(small(24), { runDir: join(dir, 'cut'), dataset })).rejects.toThrow(/a new or empty run folder/);
    // Another config cannot resume it.
    await expect(distillStudent(distill({ objective: { m: 9 } }), { runDir: join(dir, 'cut'), dataset, resume: true })).rejects.toThrow(InputError);
    const resumed = await distillStudent(small(24), { runDir: join(dir, 'cut'), dataset, resume: true });
    expect(resumed).toMatchObject({ step: 24, interrupted: false });
    const a = readCheckpoint(whole.checkpointPath);
    const b = readCheckpoint(resumed.checkpointPath);
    for (const [name, w] of a.weights) expect(b.weights.get(name)!.data, name).toEqual(w.data);
    const sa = loadTrainState(join(dir, 'whole', DISTILL_FILES.state));
    const sb = loadTrainState(join(dir, 'cut', DISTILL_FILES.state));
    for (const [name, w] of sa.params) expect(sb.params.get(name)!.data, name).toEqual(w.data);
    expect(sb.rng).toEqual(sa.rng);
    // The metrics log holds each record once; records up to the last save before the cut are the same numbers.
    const records = (run: string) => MetricsLog.read(join(dir, run, DISTILL_FILES.metrics)).map((r) => [r.step, r.loss]);
    expect(records('cut').map((r) => r[0])).toEqual(records('whole').map((r) => r[0]));
    expect(records('cut').slice(0, 2)).toEqual(records('whole').slice(0, 2));
    // A finished run resumed takes no step and reports what it logged, not an empty loss and 0 steps/s.
    const again = await distillStudent(small(24), { runDir: join(dir, 'whole'), dataset, resume: true });
    expect(again).toMatchObject({ step: 24, interrupted: false, trainLoss: records('whole').at(-1)![1] });
    expect((again.stepsPerSecond * again.elapsedMs) / (24 * 1000)).toBeCloseTo(1, 2);
  });

  it('a run written before the identity left out paths still resumes in place', async () => {
    const run = join(dir, 'legacy');
    await distillStudent(small(10), { runDir: run, dataset });
    const statePath = join(run, DISTILL_FILES.state);
    const state = loadTrainState(statePath);
    const config = small(10);
    const teacherDigest = createHash('sha256').update(readFileSync(join(teacherDir, 'checkpoint.fpk'))).digest('hex');
    // The earlier identity: the whole config (paths included) without train.steps, plus the teacher's digest.
    saveTrainState(statePath, { ...state, config: JSON.stringify({ ...config, train: { ...config.train, steps: undefined }, teacherDigest }) });
    expect(await distillStudent(small(14), { runDir: run, dataset, resume: true })).toMatchObject({ step: 14, interrupted: false });
    // A changed config is still refused under the old identity.
    saveTrainState(statePath, { ...state, config: JSON.stringify({ ...config, train: { ...config.train, steps: undefined }, teacherDigest }) });
    await expect(distillStudent(distill({ objective: { m: 9 } }), { runDir: run, dataset, resume: true })).rejects.toThrow(/the same distillation config, teacher and observation windows/);
  });

  it('a run folder moved with its teacher and observations resumes from the new paths; other contents are refused', async () => {
    const before = join(dir, 'move-a');
    const after = join(dir, 'move-b');
    mkdirSync(before);
    cpSync(teacherDir, join(before, 'teacher'), { recursive: true });
    cpSync(datasetPath, join(before, 'visited.zarr'), { recursive: true });
    // The teacher's own dataset moves too: its run's config.json names it.
    cpSync(datasetPath, join(before, 'data.zarr'), { recursive: true });
    const teacherRun = JSON.parse(readFileSync(join(before, 'teacher', 'config.json'), 'utf8'));
    writeFileSync(join(before, 'teacher', 'config.json'), JSON.stringify({ ...teacherRun, dataset: { ...teacherRun.dataset, path: join(before, 'data.zarr') } }));
    const args = ['--k', '2', '--m', '4', '--teacher-steps', '4', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress', '--json'];
    const first = runCli(['distill', join(before, 'teacher'), '--out', join(before, 'run'), ...args, '--observations', join(before, 'visited.zarr'), '--steps', '6']);
    expect(first.code, first.stderr).toBe(0);
    renameSync(before, after);
    const resume = (teacher: string, ...extra: string[]) => runCli(['distill', teacher, '--out', join(after, 'run'), '--resume', '--steps', '9', '--json', '--no-progress', ...extra]);
    // The observations' old path is gone: named in the error, and the new one can be given.
    const stale = resume(join(after, 'teacher'), '--dataset', join(after, 'data.zarr'));
    expect(stale.code).toBe(2);
    expect(stale.stderr).toContain(join(before, 'visited.zarr'));
    const miscounted = resume(join(after, 'teacher'), '--observations', `${join(after, 'visited.zarr')},${join(after, 'visited.zarr')}`);
    expect(miscounted.code).toBe(2);
    expect(miscounted.stderr).toContain('1 paths, one for each set of observations of the resumed run');
    // A checkpoint that is not the run's teacher is refused, naming both digests, and nothing is written.
    const other = readCheckpoint(join(after, 'teacher', 'checkpoint.fpk'));
    const [name, w] = [...other.weights][0];
    other.weights.set(name, { shape: w.shape, data: w.data.map((v) => v + 0.01) });
    saveCheckpoint(join(after, 'other.fpk'), other);
    const configBefore = readFileSync(join(after, 'run', DISTILL_FILES.config), 'utf8');
    const foreign = resume(join(after, 'other.fpk'), '--observations', join(after, 'visited.zarr'));
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/teacher = .*other\.fpk.*expected the teacher checkpoint of the run being resumed \(sha256 [0-9a-f]{12}\.\.\.; this one is [0-9a-f]{12}\.\.\.\)/);
    expect(readFileSync(join(after, 'run', DISTILL_FILES.config), 'utf8')).toBe(configBefore);
    // Other observations at the new path are refused too: the run checks the windows, not their path.
    await writeMixture(join(after, 'other.zarr'), 4, 192, 12);
    const windows = resume(join(after, 'teacher'), '--observations', join(after, 'other.zarr'), '--dataset', join(after, 'data.zarr'));
    expect(windows.code).toBe(2);
    expect(windows.stderr).toContain('the same distillation config, teacher and observation windows as the run being resumed');
    // The dataset the moved teacher's config names is gone as well: given anew with --dataset.
    const noData = resume(join(after, 'teacher'), '--observations', join(after, 'visited.zarr'));
    expect(noData.code).toBe(2);
    expect(noData.stderr).toContain(join(before, 'data.zarr'));
    const ok = resume(join(after, 'teacher'), '--observations', join(after, 'visited.zarr'), '--dataset', join(after, 'data.zarr'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ step: 9, interrupted: false, cache: { builtParts: 0 } });
    const recorded = JSON.parse(readFileSync(join(after, 'run', DISTILL_FILES.config), 'utf8'));
    expect(recorded.teacher).toBe(join(after, 'teacher'));
    expect(recorded.observations).toEqual([{ path: join(after, 'visited.zarr'), every: 1 }]);
    // The teacher's split settings came with the new dataset path (not the defaults).
    expect(recorded.dataset).toEqual({ path: join(after, 'data.zarr'), valRatio: teacherRun.dataset.valRatio, maxTrainEpisodes: teacherRun.dataset.maxTrainEpisodes, splitSeed: teacherRun.dataset.splitSeed });
    expect(teacherRun.dataset.valRatio).not.toBe(DistillConfig.parse({ teacher: 'x', dataset: { path: 'x' } }).dataset!.valRatio);
  });

  it('an interrupted cache build continues where it stopped, to the same samples', async () => {
    const cfg = (cache: string) => distill({ cache: { dir: cache, solver: { method: 'euler', steps: 3 } }, train: { steps: 1 } });
    const whole = await distillStudent(cfg(join(dir, 'cache-whole')), { runDir: join(dir, 'cache-whole-run'), dataset });
    expect(whole.cache.builtParts).toBe(5);
    const partial = join(dir, 'cache-partial');
    const controller = new AbortController();
    const r = await distillStudent(cfg(partial), {
      runDir: join(dir, 'cache-cut'),
      dataset,
      signal: controller.signal,
      hooks: { onCacheProgress: (p) => p.part === 2 && controller.abort() },
    });
    expect(r).toMatchObject({ step: 0, interrupted: true });
    // Whole parts only, nothing half-written.
    expect(readdirSync(partial).sort()).toEqual(['manifest.json', 'part-00000.fpc', 'part-00001.fpc']);
    const again = await distillStudent(cfg(partial), { runDir: join(dir, 'cache-cut'), dataset, resume: true });
    expect(again.cache).toMatchObject({ builtParts: 3, reusedParts: 2 });
    for (let p = 0; p < 5; p++) expect(readFileSync(partPath(partial, p)), `part ${p}`).toEqual(readFileSync(partPath(join(dir, 'cache-whole'), p)));
  });

  it('a corrupt or foreign cache is reported, naming the file', async () => {
    const bad = join(dir, 'cache-bad');
    cpSync(cacheDir, bad, { recursive: true });
    const part = partPath(bad, 3);
    const bytes = readFileSync(part);
    bytes[bytes.length - 40] ^= 0x08;
    writeFileSync(part, bytes);
    const run = (name: string, cache: string, k = 8) => distillStudent(distill({ cache: { dir: cache, k }, train: { steps: 2 } }), { runDir: join(dir, name), dataset });
    await expect(run('bad1', bad)).rejects.toThrow(CorruptFileError);
    await expect(run('bad2', bad)).rejects.toThrow(`${part}: checksum mismatch`);
    writeFileSync(part, bytes.subarray(0, 100));
    await expect(run('bad3', bad)).rejects.toThrow(new RegExp(`${part}: not a readable teacher cache part`));
    // A cache drawn with other settings is not silently mixed in.
    await expect(run('bad4', cacheDir, 4)).rejects.toThrow(/built with other k/);
    writeFileSync(join(bad, 'manifest.json'), '{"format": ');
    await expect(run('bad5', bad)).rejects.toThrow(CorruptFileError);
  });

  it('a config written by an earlier version parses to itself, so its runs still resume', () => {
    // The preset's distill.json predates objective.assignment and target: fields added later must not appear in it.
    const path = new URL('../../policies/pusht-state/distill.json', import.meta.url).pathname;
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    expect(JSON.parse(JSON.stringify(DistillConfig.parse(raw)))).toEqual(raw);
  });

  it('refuses a teacher checkpoint of another kind', async () => {
    const s = StudentPolicy.fromTeacher(teacher);
    const path = join(dir, 'student-as-teacher.fpk');
    saveCheckpoint(path, { config: s.config, stats: { ...s.stats }, weights: s.params.toWeights() });
    await expect(distillStudent(distill({ teacher: path, dataset: { path: datasetPath } }), { runDir: join(dir, 'kind'), dataset })).rejects.toThrow(
      `${path}: config.kind = "student", expected 'flow' or 'lfm' (a flow-matching teacher or an LFM chain), or a refined student (\`flowpolicy refine\`): this checkpoint holds a one-step student`,
    );
    expect(existsSync(join(dir, 'kind'))).toBe(false);
  });

  it('Ctrl-C from the command line saves whole files, exits 130 and prints the resume command, which finishes the run', async () => {
    const out = join(dir, 'cli-sigint');
    const args = ['--k', '2', '--m', '4', '--teacher-steps', '4', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress'];
    const run = startCli(['distill', teacherDir, '--out', out, ...args, '--steps', '1000000', '--train.logEvery', '5']);
    await run.waitFor(/student: /);
    // Interrupt mid-training: once the first metrics record is written.
    for (let waited = 0; !existsSync(join(out, DISTILL_FILES.metrics)) && waited < 120_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(130);
    const m = /interrupted at step (\d+); continue with: flowpolicy distill (\S+) --out (\S+) --resume/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(0);
    expect([m![2], m![3]]).toEqual([teacherDir, out]);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(loadTrainState(join(out, DISTILL_FILES.state)).step).toBe(step);
    const resumed = runCli(['distill', teacherDir, '--out', out, '--resume', '--steps', String(step + 5), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ step: step + 5, interrupted: false, cache: { builtParts: 0, reusedParts: 1 } });
  });

  it('runs from the command line, and bad input exits with code 2 and one line', () => {
    const out = join(dir, 'cli');
    const args = ['--k', '2', '--m', '4', '--teacher-steps', '4', '--steps', '6', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress'];
    const ok = runCli(['distill', teacherDir, '--out', out, ...args, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ step: 6, interrupted: false, cache: { builtParts: 1 } });
    expect(readCheckpoint(join(out, DISTILL_FILES.checkpoint)).config.kind).toBe('student');
    // --observations takes plain dataset paths, comma-separated; --jitter.* set the jittered copies.
    const visited = runCli(['distill', teacherDir, '--out', join(dir, 'cli-visited'), ...args, '--observations', `${datasetPath},${datasetPath}`, '--jitter.copies', '1', '--jitter.sigma', '0.1']);
    expect(visited.code, visited.stderr).toBe(0);
    const windows = 3 * 192 + 2 * 4 * 192 + 3 * 192;
    expect(visited.stderr).toContain(`${windows} observations (${2 * 4 * 192} from closed-loop episodes, ${3 * 192} jittered copies)`);
    expect(visited.stderr).toContain(`teacher cache: ${windows} observations x 2 samples (euler, 4 steps) in 4 parts`); // one per segment
    const recorded = JSON.parse(readFileSync(join(dir, 'cli-visited', DISTILL_FILES.config), 'utf8'));
    expect(recorded.observations).toEqual([
      { path: datasetPath, every: 1 },
      { path: datasetPath, every: 1 },
    ]);
    expect(recorded.jitter).toEqual({ copies: 1, sigma: 0.1, seed: 0 });
    const noSigma = runCli(['distill', teacherDir, '--out', join(dir, 'cli-jitter'), ...args, '--jitter.copies', '2']);
    expect(noSigma.code).toBe(2);
    expect(noSigma.stderr).toMatch(/^error: command line: jitter.sigma = undefined, expected a value of type number$/m);
    expect(existsSync(join(dir, 'cli-jitter'))).toBe(false);
    // A student where the teacher belongs.
    const kind = runCli(['distill', join(out, DISTILL_FILES.checkpoint), '--out', join(dir, 'cli-kind'), ...args]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/^error: .*config.kind = "student", expected 'flow'/m);
    // A corrupt cache, met on resume.
    const part = partPath(join(out, DISTILL_FILES.cache), 0);
    const bytes = readFileSync(part);
    bytes[bytes.length - 10] ^= 1;
    writeFileSync(part, bytes);
    rmSync(join(out, DISTILL_FILES.state));
    const corrupt = runCli(['distill', teacherDir, '--out', out, '--resume', '--steps', '8']);
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr).toContain(`${part}: checksum mismatch`);
    for (const r of [kind, corrupt]) expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('distils a refined student into a one-call student from the command line, refusing an ODE setting for it', () => {
    const args = ['--k', '2', '--steps', '6', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress'];
    const start = join(dir, 'cli-r-student');
    expect(runCli(['distill', teacherDir, '--out', start, ...args, '--teacher-steps', '4', '--objective', 'pairs']).code).toBe(0);
    // Written into the student's run folder: the dataset is found through its config.json and its teacher's.
    const refined = join(start, 'refined.fpk');
    expect(runCli(['refine', start, '--teacher', teacherDir, '--time', '0.8', '--out', refined]).code).toBe(0);
    const out = join(dir, 'cli-collapsed');
    const solver = runCli(['distill', refined, '--out', out, ...args, '--objective', 'pairs', '--dataset', datasetPath, '--teacher-steps', '4']);
    expect(solver.code).toBe(2);
    expect(solver.stderr).toMatch(/^error: .*cache\.solver\.steps = 4, expected left at 100 with a refined student as the teacher/m);
    expect(existsSync(out)).toBe(false);
    const r = runCli(['distill', refined, '--out', out, ...args, '--objective', 'pairs']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, DISTILL_FILES.config), 'utf8')).dataset).toBeUndefined();
    expect(r.stderr).toMatch(/^teacher: .*refined\.fpk; 3 training episodes, 576 observations$/m);
    expect(r.stderr).toMatch(/^teacher cache: \d+ observations x 2 samples \(the refined student: trunk, then its refining step with eps = z\) in 1 parts/m);
    const shown = runCli(['inspect', join(out, DISTILL_FILES.checkpoint)]);
    expect(shown.stdout).toMatch(new RegExp(`^teacher +${refined} \\(pairs distillation, sha256 [0-9a-f]{12}\\)$`, 'm'));
    expect(shown.stdout).toMatch(/^inference +one network call per chunk$/m);
  });

  it('distils an anchored student from the command line (--anchors sets m), started from a student (--init), and inspect shows its gate', () => {
    const start = join(dir, 'cli-start');
    const args = ['--k', '2', '--teacher-steps', '4', '--steps', '6', '--batch-size', '8', '--cache.partWindows', '1024', '--no-progress'];
    expect(runCli(['distill', teacherDir, '--out', start, ...args]).code).toBe(0);
    const out = join(dir, 'cli-anchors');
    const r = runCli(['distill', teacherDir, '--out', out, ...args, '--anchors', '4', '--init', start, '--student.anchors.hidden', '16', '--student.anchors.fit.steps', '30']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("gate: the 4 anchors' shares of the teacher's samples on 576 observations; fitting 30 steps");
    expect(r.stderr).toMatch(/^gate: held-out cross-entropy \d\.\d{4} \(uniform 1\.3863, the targets' entropy \d\.\d{4}\)$/m);
    const config = JSON.parse(readFileSync(join(out, DISTILL_FILES.config), 'utf8'));
    expect(config.objective.m).toBe(4);
    expect(config.student).toMatchObject({ init: start, anchors: { count: 4, hidden: 16, layers: 2, seed: 0, fit: { steps: 30 } } });
    const shown = runCli(['inspect', join(out, DISTILL_FILES.checkpoint)]);
    expect(shown.stdout).toMatch(/^policy +student \(one-step, IMLE-distilled; latent size 2, 4 anchors drawn by a gate\)$/m);
    expect(shown.stdout).toMatch(/^gate +ReLU MLP 2 x 16 -> 4 logits; held-out cross-entropy \d\.\d{4} \(uniform 1\.3863\)$/m);
    expect(shown.stdout).toMatch(/^inference +one network call per chunk, after its gate$/m);
    // Resumed with the starting student at another path: the same student (by digest) is accepted, another refused.
    const copy = join(dir, 'cli-start-copy.fpk');
    cpSync(join(start, DISTILL_FILES.checkpoint), copy);
    const moved = runCli(['distill', teacherDir, '--out', out, '--resume', '--init', copy, '--steps', '8', '--no-progress']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, DISTILL_FILES.config), 'utf8')).student.init).toBe(copy);
    expect(readCheckpoint(join(out, DISTILL_FILES.checkpoint)).meta).toMatchObject({ step: 8, init: copy, gate: { fitted: true } });
    const other = join(dir, 'cli-start-other');
    expect(runCli(['distill', teacherDir, '--out', other, ...args, '--seed', '3']).code).toBe(0);
    const foreign = runCli(['distill', teacherDir, '--out', out, '--resume', '--init', other, '--steps', '10', '--no-progress']);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain('the same distillation config, teacher, starting student and observation windows as the run being resumed');
    // --anchors with another --m is refused before anything is written.
    const bad = runCli(['distill', teacherDir, '--out', join(dir, 'cli-anchors-m'), ...args, '--anchors', '4', '--m', '8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: objective.m = 8, expected student.anchors.count = 4/m);
    expect(existsSync(join(dir, 'cli-anchors-m'))).toBe(false);
  });
});
