import { z } from 'zod';

export const LrSchedule = z.enum(['cosine', 'constant']);
export type LrSchedule = z.infer<typeof LrSchedule>;

/**
 * Learning rate at `step` (0-based): linear warm-up from 0 to `lr` over
 * `warmupSteps`, then either constant or a half cosine down to 0 at
 * `totalSteps` (as diffusers' cosine schedule used by Diffusion Policy):
 *   lr_s = lr * 0.5 * (1 + cos(pi * (s - w) / (S - w))).
 */
export function learningRate(step: number, o: { lr: number; warmupSteps: number; totalSteps: number; schedule: LrSchedule }): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  return o.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
