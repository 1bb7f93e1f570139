import { z } from 'zod';
import type { Rng } from '../core/rng.js';

/**
 * Distributions of the training time t in [0, 1] (t = 0 noise, t = 1 data).
 *
 * - uniform: t ~ U(0, 1).
 * - beta: t ~ Beta(a, b). pi0 emphasises noisy times with Beta(1.5, 1) in
 *   its own convention (where t = 1 is noise); in ours that is Beta(1, 1.5).
 * - logit-normal: t = sigmoid(m + s n), n ~ N(0, 1) (Esser et al. 2024),
 *   concentrating on mid-path times.
 */
export const TimeSamplerConfig = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('uniform').describe('time distribution: uniform, beta or logit-normal') }).strict(),
  z
    .object({
      kind: z.literal('beta').describe('time distribution: uniform, beta or logit-normal'),
      a: z.number().positive().describe('Beta(a, b): a'),
      b: z.number().positive().describe('Beta(a, b): b'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('logit-normal').describe('time distribution: uniform, beta or logit-normal'),
      mean: z.number().default(0).describe('logit-normal: mean of the logit'),
      std: z.number().positive().default(1).describe('logit-normal: std of the logit'),
    })
    .strict(),
]);
export type TimeSamplerConfig = z.infer<typeof TimeSamplerConfig>;

/** Draw `n` training times into `out` (allocated if absent). */
export function sampleTimes(config: TimeSamplerConfig, n: number, rng: Rng, out = new Float32Array(n)): Float32Array {
  switch (config.kind) {
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = rng.uniform();
      break;
    case 'beta':
      for (let i = 0; i < n; i++) out[i] = rng.beta(config.a, config.b);
      break;
    case 'logit-normal':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-(config.mean + config.std * rng.normal())));
      break;
  }
  return out;
}
