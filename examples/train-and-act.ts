/**
 * The library end to end: train a flow-matching policy on the Push-T
 * demonstrations, reload its checkpoint, and ask it for action chunks.
 *
 *   node --import tsx examples/train-and-act.ts [steps]
 */
import { loadDataset, loadPolicy, RunConfig, trainFlowPolicy, useBackend } from '../src/index.js';

const steps = Number(process.argv[2] ?? 300);
const backend = await useBackend(); // tfjs-node(-gpu) when installed, else wasm; FLOWPOLICY_BACKEND overrides
console.log(`backend: ${backend.detail}`);

const dataset = await loadDataset('../shared/datasets/pusht_cchi_v7_replay.zarr');
console.log(`${dataset.numEpisodes} episodes, ${dataset.numFrames} frames, features: ${Object.keys(dataset.features).join(', ')}`);

const config = RunConfig.parse({ dataset: { path: dataset.info.source }, policy: { net: { kind: 'mlp', hidden: 256 } }, train: { steps, evalEvery: 100, saveEvery: steps } });
const run = await trainFlowPolicy(config, {
  runDir: `runs/example-${Date.now()}`,
  dataset,
  hooks: { onRecord: (r) => typeof r.valLoss === 'number' && console.log(`step ${r.step}: validation loss ${r.valLoss.toFixed(4)}`) },
});
console.log(`trained ${run.step} steps in ${(run.elapsedMs / 1000).toFixed(1)} s -> ${run.checkpointPath}`);

// Act on the first frame of episode 0: the chunk starts at the current step (row `start`).
const { policy } = loadPolicy(run.checkpointPath, { seed: 0 });
const frame = {
  'observation.environment_state': Array.from(dataset.frame('observation.environment_state', 0)),
  'observation.state': Array.from(dataset.frame('observation.state', 0)),
};
const chunk = policy.act(frame);
const now = chunk.actions.subarray(chunk.start * chunk.actionDim, (chunk.start + chunk.execute) * chunk.actionDim);
console.log(`next ${chunk.execute} target positions (px):`, Array.from(now, (v) => Math.round(v)));
console.log(`recorded demo actions:`, Array.from(dataset.feature('action').data.subarray(0, 2 * chunk.execute), (v) => Math.round(v)));
console.log(`${chunk.nfe} network calls in ${chunk.latencyMs.toFixed(1)} ms`);
