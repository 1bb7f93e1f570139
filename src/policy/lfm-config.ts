import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { NormMode } from '../data/normalizer.js';
import { LfmInterpolant } from '../flow/lfm-interpolant.js';
import { LfmScheduleConfig, ouSteps } from '../flow/lfm-schedule.js';
import { SolverConfig } from '../flow/ode.js';
import { NetConfig } from '../nets/velocity-net.js';
import { ActionSpec, checkPolicyIo, FlowSpec, ObservationSpec } from './config.js';

/**
 * A Local Flow Matching policy (Xu, Cheng & Xie, arXiv 2410.02548): a chain
 * of N conditional velocity fields ("blocks") of one architecture. Block n
 * carries the pool P_n (its t = 0, noisier end) to P_{n-1} (its t = 1,
 * data-side end), P_0 the normalised action chunks and P_N = N(0, I); the
 * observation conditions every block and is never noised. Generation runs
 * block N, then N-1, ..., 1, each from t = 0 to 1. (The paper and its code
 * run time the other way.)
 *
 * The schedule fixes N (its `blocks`, or the length of its explicit steps
 * plus one) and the OU steps g_1..g_{N-1} between consecutive pools; with
 * N = 1 and the linear interpolant the policy is plain flow matching.
 */
/** The schedule of an LFM policy that names none: N = 4 on the cosine schedule (needs no other setting). */
export const DEFAULT_LFM_SCHEDULE = { kind: 'cosine', blocks: 4 } as const;

export const LfmSpec = z
  .object({
    schedule: LfmScheduleConfig.prefault(DEFAULT_LFM_SCHEDULE).describe('OU step schedule; fixes the number of blocks N'),
    interpolant: LfmInterpolant.default('linear'),
  })
  .strict();
export type LfmSpec = z.infer<typeof LfmSpec>;

/** Time sampling and OT coupling; the path is the LFM interpolant. OT coupling pairs noise with pool samples in the free block N only (the other blocks' pairs are coupled by their OU step). */
export const LfmFlowSpec = FlowSpec.omit({ path: true });

/** Reports a schedule whose steps are not finite and positive as an issue of its own field. */
function checkSchedule(schedule: LfmScheduleConfig, ctx: z.RefinementCtx): void {
  // zod runs refinements on objects with bad fields too: those are reported already.
  if (!LfmScheduleConfig.safeParse(schedule).success) return;
  try {
    ouSteps(schedule);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    ctx.addIssue({ code: 'custom', path: ['lfm', 'schedule', err.field], input: err.value, message: err.expected });
  }
}

export const LfmPolicyConfig = z
  .object({
    kind: z.literal('lfm'),
    observation: ObservationSpec,
    action: ActionSpec,
    normalization: z.record(z.string(), NormMode).describe('normalisation mode per feature'),
    net: NetConfig.describe('the network of every block (all blocks share it)'),
    flow: LfmFlowSpec.prefault({}),
    lfm: LfmSpec.prefault({}),
    inference: SolverConfig.prefault({}).describe('solver of each block at inference (fixed-step solvers: N x steps network calls); act() may override'),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkPolicyIo(c, ctx);
    checkSchedule(c.lfm.schedule, ctx);
  });
export type LfmPolicyConfig = z.infer<typeof LfmPolicyConfig>;

/** The number of blocks N a schedule implies. */
export function blockCount(schedule: LfmScheduleConfig): number {
  return schedule.kind === 'explicit' ? schedule.steps.length + 1 : schedule.blocks;
}

/**
 * The OU step size of each block, block 1 first: g_1..g_{N-1}, then
 * Infinity for the free block N (its noisier end is pure noise, see
 * lfm-ou.ts).
 */
export function blockSteps(schedule: LfmScheduleConfig, source?: string): number[] {
  return [...ouSteps(schedule, source), Infinity];
}

/** The prefix of block n's weights (1-based, block 1 next to the data) in an LFM checkpoint. */
export function blockPrefix(n: number): string {
  return `block${n}.`;
}
