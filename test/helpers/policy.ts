import { Rng } from '../../src/core/rng.js';
import { computeStats, type FeatureStats } from '../../src/data/normalizer.js';
import { FlowPolicyConfig } from '../../src/policy/config.js';
import { FlowPolicy } from '../../src/policy/flow-policy.js';

/** A small Push-T-shaped policy config (20-D observation, 2-D actions, To 2, Tp 16, Ta 8). */
export function smallConfig(net: FlowPolicyConfig['net'] = { kind: 'mlp', hidden: 32, layers: 2, timeEmbedDim: 8, activation: 'mish' }): FlowPolicyConfig {
  return FlowPolicyConfig.parse({
    kind: 'flow',
    observation: {
      features: [
        { key: 'observation.environment_state', shape: [18] },
        { key: 'observation.state', shape: [2] },
      ],
      horizon: 2,
    },
    action: { key: 'action', dim: 2, horizon: 16, execute: 8 },
    normalization: { 'observation.environment_state': 'min_max', 'observation.state': 'min_max', action: 'min_max' },
    net,
  });
}

/** Statistics of uniform draws over the 512 px workspace, for each feature of smallConfig. */
export function workspaceStats(seed = 0): Record<string, FeatureStats> {
  const rng = new Rng(seed);
  const draw = (dim: number) => computeStats(Float32Array.from({ length: 200 * dim }, () => 512 * rng.uniform()), dim);
  return { 'observation.environment_state': draw(18), 'observation.state': draw(2), action: draw(2) };
}

export function smallPolicy(seed = 0): FlowPolicy {
  return FlowPolicy.initialize(smallConfig(), workspaceStats(seed), seed);
}

/** One observation frame of the right shape. */
export function frame(agent: [number, number] = [100, 200]): Record<string, number[]> {
  return { 'observation.environment_state': Array.from({ length: 18 }, (_, i) => 200 + 5 * i), 'observation.state': agent };
}
