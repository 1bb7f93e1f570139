import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { parseInput } from '../core/schema.js';

/**
 * Ornstein–Uhlenbeck step sizes of Local Flow Matching (Xu, Cheng & Xie,
 * arXiv 2410.02548).
 *
 * A chain has N blocks. Block n < N learns the flow between P_n and P_{n-1}
 * (P_0 = data), where P_n is P_{n-1} after one exact OU step of size g_n
 * (lfm-ou.ts); the last block is free: it maps P_{N-1} to N(0, I) and has no
 * step. A schedule therefore gives the N - 1 sizes g_1..g_{N-1}. Inside a
 * block, flow time runs t = 0 at the noisier end (P_n) to t = 1 at the
 * data-side end (P_{n-1}); the paper and its code run it the other way.
 *
 * - geometric: g_n = c r^{n-1}. The official 2-D configs are this rounded to
 *   three decimals (c = 0.025, r = 1.25, N = 9); r > 1 grows the steps as the
 *   pools near N(0, I), where they change less per unit of OU time.
 * - explicit: the sizes as listed (the official tabular configs list them).
 * - cosine, linear: a variance-preserving diffusion schedule, converted (see
 *   vpSteps). Not in the official code; they let one reuse a familiar
 *   diffusion schedule and need only N.
 */
const blocks = z.number().int().positive().describe('number of LFM blocks N, the free last block included');
const kindHelp = 'LFM step schedule: geometric, cosine, linear or explicit';

export const LfmScheduleConfig = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('geometric').describe(kindHelp),
      blocks,
      first: z.number().positive().describe('geometric: first OU step size c'),
      ratio: z.number().positive().describe('geometric: ratio r of consecutive step sizes'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('cosine').describe(kindHelp),
      blocks,
      offset: z.number().nonnegative().default(0.008).describe('cosine: offset s of Nichol & Dhariwal (2021)'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('linear').describe(kindHelp),
      blocks,
      betaMin: z.number().nonnegative().default(0.1).describe('linear: beta at diffusion time 0 (data)'),
      betaMax: z.number().positive().default(20).describe('linear: beta at diffusion time 1 (noise)'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('explicit').describe(kindHelp),
      steps: z.array(z.number().positive()).describe('explicit: the OU step sizes g_1..g_{N-1}; N = length + 1'),
    })
    .strict(),
]);
export type LfmScheduleConfig = z.infer<typeof LfmScheduleConfig>;

/**
 * The OU step sizes of a variance-preserving schedule, on a uniform grid.
 *
 * A VP process has marginals x_tau = alpha(tau) x_0 + sqrt(1 - alpha(tau)^2) z
 * on its own diffusion clock tau (tau = 0 data, tau = 1 noise; this clock
 * only places the grid, it is not a block's flow time). Its SDE
 * dx = -beta/2 x dtau + sqrt(beta) dW, beta = -2 d ln alpha / dtau, is the OU
 * process run on the clock T(tau) = -ln alpha(tau), so its transition from
 * tau' to tau is exactly one OU step of size ln(alpha(tau') / alpha(tau)):
 * it scales the mean by alpha(tau) / alpha(tau').
 *
 * Grid tau_n = n / N, n = 0..N-1; g_n = ln(alpha(tau_{n-1}) / alpha(tau_n)).
 * The free block covers [(N-1)/N, 1], where the VP process ends at (cosine:
 * exactly, linear: nearly) N(0, I). The steps telescope:
 * e^{-(g_1 + ... + g_{N-1})} = alpha((N-1)/N), so data of mean m and variance
 * s^2 reach P_{N-1} with mean alpha m and variance 1 + (s^2 - 1) alpha^2.
 *
 * `logAlphaDrop(lo, hi)` = ln(alpha(lo) / alpha(hi)), computed in a form that
 * stays accurate when the two are close (small steps).
 */
function vpSteps(n: number, logAlphaDrop: (lo: number, hi: number) => number): Float64Array {
  const g = new Float64Array(n - 1);
  for (let k = 1; k < n; k++) g[k - 1] = logAlphaDrop((k - 1) / n, k / n);
  return g;
}

/**
 * The step sizes g_1..g_{N-1} of a schedule (empty for N = 1: one free
 * block, plain flow matching). Parses `config` first, so a bad field fails
 * with an InputError naming it; `source` says where the config came from.
 *
 * cosine (Nichol & Dhariwal 2021), with u(tau) = (pi/2) (tau + s) / (1 + s):
 *   alpha(tau) = cos u(tau) / cos u(0),  g_n = ln(cos u(tau_{n-1}) / cos u(tau_n)).
 * linear (Ho et al. 2020 in continuous time, the VP-SDE of Song et al. 2021),
 * beta(tau) = beta_min + tau (beta_max - beta_min):
 *   alpha(tau) = exp(-1/2 int_0^tau beta),
 *   g_n = 1/2 int_{tau_{n-1}}^{tau_n} beta = (beta_min d + (beta_max - beta_min)(tau_n^2 - tau_{n-1}^2) / 2) / 2,
 *   d = tau_n - tau_{n-1}.
 * Grid and conversion: see vpSteps.
 */
export function ouSteps(config: z.input<typeof LfmScheduleConfig>, source?: string): Float64Array {
  const c = parseInput(LfmScheduleConfig, config, source);
  let g: Float64Array;
  let culprit: string;
  switch (c.kind) {
    case 'geometric':
      g = new Float64Array(c.blocks - 1);
      for (let k = 0; k < g.length; k++) g[k] = c.first * Math.pow(c.ratio, k);
      culprit = 'ratio';
      break;
    case 'explicit':
      g = Float64Array.from(c.steps);
      culprit = 'steps';
      break;
    case 'cosine': {
      const { offset } = c;
      const u = (tau: number): number => ((Math.PI / 2) * (tau + offset)) / (1 + offset);
      g = vpSteps(c.blocks, (lo, hi) => Math.log(Math.cos(u(lo)) / Math.cos(u(hi))));
      culprit = 'offset';
      break;
    }
    case 'linear': {
      const { betaMin, betaMax } = c;
      g = vpSteps(c.blocks, (lo, hi) => (betaMin * (hi - lo) + ((betaMax - betaMin) * (hi * hi - lo * lo)) / 2) / 2);
      culprit = 'betaMax';
      break;
    }
  }
  // Valid fields can still give a step that is 0 or infinite in float64
  // (c r^{n-1} overflowing, a huge cosine offset flattening alpha).
  for (let k = 0; k < g.length; k++) {
    if (!(g[k] > 0 && Number.isFinite(g[k]))) {
      const field = c.kind === 'geometric' && k === 0 ? 'first' : culprit;
      const value = (c as Record<string, unknown>)[field];
      throw new InputError(field, value, `a value giving finite positive OU steps (step ${k + 1} of ${g.length} is ${g[k]})`, source);
    }
  }
  return g;
}

/**
 * alpha_n = e^{-(g_1 + ... + g_n)} for n = 1..N-1: how much the OU steps have
 * shrunk the data's mean by the pool P_n. A data covariance S becomes
 * alpha_n^2 S + (1 - alpha_n^2) I there, so alpha_{N-1} says how far the free
 * last block still has to carry the pool to N(0, I).
 */
export function cumulativeSignal(steps: ArrayLike<number>): Float64Array {
  const alpha = new Float64Array(steps.length);
  let total = 0;
  for (let k = 0; k < steps.length; k++) {
    total += steps[k];
    alpha[k] = Math.exp(-total);
  }
  return alpha;
}
