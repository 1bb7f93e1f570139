import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { NormMode } from '../data/normalizer.js';
import { NetConfig } from '../nets/velocity-net.js';
import { ActionSpec, checkPolicyIo, ObservationSpec, type FlowPolicyConfig } from './config.js';

/**
 * A correction stage after the student (`flowpolicy refine`): a flow
 * teacher's velocity net v_phi takes one Euler step from time tau, starting
 * from the student's chunk x^ partly re-noised with fresh noise eps (as in
 * SDEdit, Meng et al. 2022):
 *
 *   x_tau = (1 - tau) eps + tau x^,   eps ~ N(0, I_chunk),
 *   G(z, eps, c) = x_tau + (1 - tau) v_phi(x_tau, tau, c).
 *
 * One Euler step of the teacher from x_tau is its estimate of E[x1 | x_tau]:
 * near the data (tau close to 1) that pulls the student's chunk onto the
 * teacher's distribution without undoing the student's choice of mode.
 */
export const StudentRefine = z
  .object({
    time: z.number().gt(0).lt(1).describe('tau: how much of the student chunk is kept (0 < tau < 1)'),
    net: NetConfig.describe("the refining teacher's network (its weights are stored under refine.)"),
  })
  .strict();
export type StudentRefine = z.infer<typeof StudentRefine>;

/** Where a refined student's checkpoint keeps the refining net's weights: `refine.<name>`. */
export const REFINE_PREFIX = 'refine.';

/**
 * A discrete latent chosen per observation (multiple-choice learning): M
 * fixed anchors z_1..z_M in the latent space, drawn once from N(0, I), and
 * a gate g, a small ReLU MLP from the condition c to M logits:
 *
 *   j ~ Categorical(softmax(g(c))),   chunk = G(z_j, c).
 *
 * A continuous map from N(0, I) onto a multimodal distribution must put
 * some of its mass between the modes, on chunks no demonstration holds; M
 * anchors have no between. `distill` trains G by IMLE with the anchors as
 * the m samples of every observation, then fits g to how often each anchor
 * is the nearest to the teacher's samples, so the anchors are drawn with
 * the teacher's mode weights.
 */
export const StudentAnchors = z
  .object({
    count: z.number().int().min(2).describe('M: anchors in the latent space'),
    hidden: z.number().int().positive().default(256).describe("width of the gate's hidden layers"),
    layers: z.number().int().positive().default(2).describe("the gate's hidden layers (ReLU)"),
  })
  .strict();
export type StudentAnchors = z.infer<typeof StudentAnchors>;

/** Where an anchored student's checkpoint keeps the anchors and the gate: `gate.anchors`, `gate.<layer>.weight`... */
export const GATE_PREFIX = 'gate.';

/**
 * A one-step student (IMLE-distilled from a flow teacher): the same
 * observation/action interface and normalisation as its teacher, the
 * teacher's network as trunk, and a latent size. Its generator is
 *
 *   G(z, c) = P z + v_theta(P z, t = 0, c),   z ~ N(0, I_latentDim),
 *
 * v_theta the trunk with its time input fixed at t = 0 (noise; t = 1 is
 * data), P the identity when latentDim is the chunk size (horizon x action
 * dim, the default) and a learned [latentDim, chunk] map otherwise. Warm
 * started from the teacher's weights, G is exactly the teacher's one-step
 * Euler sampler x1 = x0 + v(x0, 0, c). With `refine`, G's output goes
 * through StudentRefine's correction, and the latent is (z, eps). With
 * `anchors`, z is one of M anchors chosen by a gate (StudentAnchors).
 */
export const StudentConfig = z
  .object({
    kind: z.literal('student'),
    observation: ObservationSpec,
    action: ActionSpec,
    normalization: z.record(z.string(), NormMode).describe('normalisation mode per feature (the teacher\'s)'),
    latentDim: z.number().int().positive().optional().describe('latent size (default: the chunk size, horizon x action dim)'),
    net: NetConfig.describe("the trunk: the teacher's network, or the student's own (distill --student.net)"),
    refine: StudentRefine.optional().describe("a teacher's correction step after the trunk (flowpolicy refine)"),
    anchors: StudentAnchors.optional().describe('a discrete latent: M anchors drawn by a gate (default: z ~ N(0, I))'),
  })
  .strict()
  .superRefine(checkPolicyIo);
export type StudentConfig = z.infer<typeof StudentConfig>;

/** The first of a student's nets the real-time path cannot run (it is MLP-only), or undefined when it runs them all. */
export function netOffRealtimePath(config: Pick<StudentConfig, 'net' | 'refine'>): NetConfig | undefined {
  return [config.net, config.refine?.net].find((n): n is NetConfig => n !== undefined && n.kind !== 'mlp');
}

/**
 * What keeps a policy of this config off the real-time path (so a kernel
 * choice means nothing for it), or null for an MLP student, which runs there.
 */
export function offRealtimePath(config: { kind: string; net?: NetConfig; refine?: StudentRefine }): string | null {
  if (config.kind !== 'student') return `a ${config.kind} policy`;
  const off = netOffRealtimePath({ net: config.net!, refine: config.refine });
  return off ? `a student with a ${off.kind} net (it runs on tfjs)` : null;
}

/** The refusal of a real-time kernel for `source`, which is `what` (offRealtimePath's words). */
export function kernelRefused(kernel: string, source: string, what: string): InputError {
  return new InputError('kernel', kernel, `a policy with a real-time path (an MLP student); ${source} is ${what}`);
}

/** The latent size of a student: its latentDim, or the chunk size. */
export function latentDimOf(config: Pick<StudentConfig, 'latentDim' | 'action'>): number {
  return config.latentDim ?? config.action.horizon * config.action.dim;
}

/**
 * The student config distilled from a teacher's config (a flow teacher's, or
 * an LFM chain's: its blocks' network), latentDim written out; `net` replaces
 * the teacher's network as the trunk.
 */
export function studentConfigFor(
  teacher: Pick<FlowPolicyConfig, 'observation' | 'action' | 'normalization' | 'net'>,
  options: { latentDim?: number; net?: NetConfig; anchors?: z.input<typeof StudentAnchors> } = {},
): StudentConfig {
  return StudentConfig.parse({
    kind: 'student',
    observation: teacher.observation,
    action: teacher.action,
    normalization: teacher.normalization,
    latentDim: options.latentDim ?? teacher.action.horizon * teacher.action.dim,
    net: options.net ?? teacher.net,
    ...(options.anchors ? { anchors: options.anchors } : {}),
  });
}
