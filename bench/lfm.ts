/**
 * Training time to a target validation loss, Local Flow Matching against
 * flow matching, on the Push-T demonstrations, in one run on this machine.
 *
 * Both policies have the same total parameter count (the LFM blocks' width
 * is chosen to match the FM network's) and are trained with the same
 * recipe at each of several step budgets, FM and LFM alternating so that
 * a change in the machine's load falls on both. The validation loss both
 * share is the exact negative log-likelihood of held-out demonstration
 * chunks (normalised units, nats per dimension), by the change of
 * variables through the chain (flow matching is a chain of one block), with
 * the same total solver steps. A method's time to the target is read off
 * its (training time, loss) points, interpolated between budgets; the
 * target is FM's loss at its largest budget unless --target is given.
 *
 *   npm run bench:lfm
 *   npm run bench:lfm -- --budgets 1000,2000,4000,8000 --hidden 512 --json
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { loadDataset } from '../src/data/load-dataset.js';
import { loadPolicy } from '../src/policy/checkpoint.js';
import { netDimsOf } from '../src/policy/config.js';
import { LocalFlowPolicy } from '../src/policy/local-flow-policy.js';
import { createVelocityNet, NetConfig } from '../src/nets/velocity-net.js';
import { RunConfig } from '../src/train/config.js';
import { policyConfigFor, runData, trainFlowPolicy } from '../src/train/flow-trainer.js';
import { trainLocalFlowPolicy } from '../src/train/lfm-trainer.js';
import { log } from './lib/timing.js';

const DEFAULT_DATASET = new URL('../../shared/datasets/pusht_cchi_v7_replay.zarr', import.meta.url).pathname;

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: DEFAULT_DATASET },
    budgets: { type: 'string', default: '500,1000,2000,4000' },
    hidden: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    blocks: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '256' },
    lr: { type: 'string', default: '1e-3' },
    'val-windows': { type: 'string', default: '128' },
    'nll-steps': { type: 'string', default: '4' },
    target: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  },
});

const positive = (flag: string, v: string | undefined): number => {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${flag} = ${JSON.stringify(v)}, expected a positive number`);
  return n;
};
const budgets = String(args.budgets).split(',').map((b) => positive('budgets', b)).sort((a, b) => a - b);
const hidden = positive('hidden', args.hidden);
const layers = positive('layers', args.layers);
const blocks = positive('blocks', args.blocks);
const nllSteps = positive('nll-steps', args['nll-steps']);
const valWindows = positive('val-windows', args['val-windows']);

const backend = await useBackend(args.backend);
const dataset = await loadDataset(String(args.dataset));

function runConfig(kind: 'flow' | 'lfm', width: number, steps: number): RunConfig {
  return RunConfig.parse({
    dataset: { path: String(args.dataset), obsKeys: ['observation.environment_state', 'observation.state'], actionKey: 'action', maxTrainEpisodes: 90 },
    policy: {
      ...(kind === 'lfm' ? { kind: 'lfm', lfm: { schedule: { kind: 'cosine', blocks } } } : {}),
      net: { kind: 'mlp', hidden: width, layers },
    },
    train: {
      steps,
      batchSize: positive('batch-size', args['batch-size']),
      lr: positive('lr', args.lr),
      warmupSteps: Math.min(1000, Math.floor(steps / 10)),
      logEvery: Math.max(1, Math.floor(steps / 10)),
      evalEvery: steps,
      saveEvery: steps,
    },
  });
}

// The LFM block width whose N blocks hold as many parameters as the FM network.
const probe = runConfig('flow', hidden, 1);
const dims = netDimsOf(policyConfigFor(probe, dataset));
const count = (width: number): number => createVelocityNet(NetConfig.parse({ kind: 'mlp', hidden: width, layers }), dims).registry.count();
const fmParams = count(hidden);
let blockWidth = 1;
for (let w = 1; w <= hidden; w++) if (Math.abs(blocks * count(w) - fmParams) < Math.abs(blocks * count(blockWidth) - fmParams)) blockWidth = w;
log(`backend ${backend.name}; FM: MLP ${layers} x ${hidden}, ${fmParams.toLocaleString('en-US')} parameters; LFM: ${blocks} blocks of MLP ${layers} x ${blockWidth}, ${(blocks * count(blockWidth)).toLocaleString('en-US')} parameters`);

// Held-out chunks and their observations, normalised as the policies see them.
const { valWindows: val } = runData(probe, dataset, policyConfigFor(probe, dataset));
const V = Math.min(valWindows, val.length);
const rng = new Rng(7);
const picks = Int32Array.from({ length: V }, () => rng.int(val.length));

/** Exact NLL per dimension (normalised units) of the held-out chunks under a chain. */
function validationNll(chain: LocalFlowPolicy, stepsPerBlock: number): number {
  const C = chain.condSize;
  const D = chain.chunkSize;
  const cond = new Float32Array(V * C);
  const chunks = new Float32Array(V * D);
  val.fill(picks, cond, chunks, chain.normalizer);
  const ll = chain.logLikelihoodNormalized(cond, chunks, V, { method: 'rk4', steps: stepsPerBlock });
  let sum = 0;
  for (const v of ll.logLikelihood) sum += v;
  return -sum / V / D;
}

interface Point {
  steps: number;
  trainSeconds: number;
  nll: number;
}
const points: Record<'fm' | 'lfm', Point[]> = { fm: [], lfm: [] };
const work = mkdtempSync(join(tmpdir(), 'flowpolicy-bench-lfm-'));
try {
  for (const steps of budgets) {
    const fmRun = await trainFlowPolicy(runConfig('flow', hidden, steps), { runDir: join(work, `fm-${steps}`), dataset });
    const fm = loadPolicy(fmRun.checkpointPath, { kind: 'flow' }).policy;
    const fmChain = LocalFlowPolicy.fromFlowPolicy(fm);
    fm.dispose();
    points.fm.push({ steps, trainSeconds: fmRun.elapsedMs / 1000, nll: validationNll(fmChain, blocks * nllSteps) });
    fmChain.dispose();
    const lfmRun = await trainLocalFlowPolicy(runConfig('lfm', blockWidth, steps), { runDir: join(work, `lfm-${steps}`), dataset });
    const chain = loadPolicy(lfmRun.checkpointPath, { kind: 'lfm' }).policy;
    points.lfm.push({ steps, trainSeconds: lfmRun.elapsedMs / 1000, nll: validationNll(chain, nllSteps) });
    chain.dispose();
    const f = points.fm[points.fm.length - 1];
    const l = points.lfm[points.lfm.length - 1];
    log(`${steps} steps: FM ${f.trainSeconds.toFixed(1)} s, NLL ${f.nll.toFixed(3)}; LFM ${l.trainSeconds.toFixed(1)} s (pushes included), NLL ${l.nll.toFixed(3)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const target = args.target === undefined ? points.fm[points.fm.length - 1].nll : Number(args.target);
if (!Number.isFinite(target)) throw new Error(`--target = ${JSON.stringify(args.target)}, expected a number (nats per dimension)`);

/** Training seconds at which the loss first reaches the target, linear between budgets; null when it never does. */
function timeToTarget(ps: Point[]): number | null {
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].nll > target) continue;
    if (i === 0) return ps[0].trainSeconds;
    const a = ps[i - 1];
    const b = ps[i];
    return a.trainSeconds + ((a.nll - target) / (a.nll - b.nll)) * (b.trainSeconds - a.trainSeconds);
  }
  return null;
}
const fmTime = timeToTarget(points.fm);
const lfmTime = timeToTarget(points.lfm);
const result = {
  backend: backend.name,
  parameters: { fm: fmParams, lfm: blocks * count(blockWidth) },
  net: { fm: { hidden, layers }, lfm: { blocks, hidden: blockWidth, layers } },
  validationWindows: V,
  target,
  points,
  timeToTargetSeconds: { fm: fmTime, lfm: lfmTime },
  ratioLfmOverFm: fmTime !== null && lfmTime !== null ? lfmTime / fmTime : null,
};
if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  const fmt = (t: number | null) => (t === null ? `not reached in ${budgets[budgets.length - 1]} steps` : `${t.toFixed(1)} s`);
  process.stdout.write(
    [
      `validation NLL (nats/dim, ${V} held-out Push-T chunks), target ${target.toFixed(3)}${args.target === undefined ? " (FM's at its largest budget)" : ''}`,
      'steps    FM s     FM NLL   LFM s    LFM NLL',
      ...budgets.map((s, i) => `${String(s).padEnd(8)} ${points.fm[i].trainSeconds.toFixed(1).padEnd(8)} ${points.fm[i].nll.toFixed(3).padEnd(8)} ${points.lfm[i].trainSeconds.toFixed(1).padEnd(8)} ${points.lfm[i].nll.toFixed(3)}`),
      `time to target: FM ${fmt(fmTime)}, LFM ${fmt(lfmTime)}${result.ratioLfmOverFm === null ? '' : `; LFM / FM = ${result.ratioLfmOverFm.toFixed(2)}`}`,
      '',
    ].join('\n'),
  );
}
