import { InputError } from '../core/errors.js';
import type { StudentPolicy } from '../policy/student-policy.js';
import type { SamplingTeacher } from './teacher-cache.js';

/**
 * A refined student (two network calls: its trunk, then a flow teacher's
 * Euler step from tau) as the teacher of a one-step student. A refined
 * student reads a latent (z, eps): z for its trunk and eps for re-noising
 * the trunk's chunk y_s to x_tau = tau y_s + (1 - tau) eps. Here eps is z
 * itself, so each sample is a deterministic function of one chunk-sized
 * noise, y = R(z, c), as an ODE teacher's is of its initial noise: the
 * cache's noise then fits objective 'pairs', which pulls the student's
 * G(z, c) towards R(z, c) pointwise and, starting from the refined
 * student's own trunk (G = its trunk at step 0), has only the refining
 * step's correction to learn. Tying eps to z is sound when the trunk's map
 * follows its flow's path from z (a student warm-started from a teacher's
 * Euler step, or trained on its pairs): x_tau then lies near that path, as
 * an independent eps would put it on average. On Push-T the preset's policy
 * with eps = z scores 0.740 over 32 draws against 0.748 with independent
 * eps, within their noise (eps = -z: 0.719).
 */
export function refinedStudentSampler(student: StudentPolicy, source: string): SamplingTeacher {
  const refine = student.config.refine;
  if (!refine) throw new InputError('config.refine', undefined, "a refine stage (a one-step student is no teacher: refine it first, or distil from its flow teacher)", source);
  if (student.config.anchors) throw new InputError('config.anchors', student.config.anchors.count, 'no anchors on a refined student used as a teacher (its trunk latent must be plain N(0, I) noise)', source);
  const D = student.chunkSize;
  if (student.net.trunkLatentDim !== D) {
    throw new InputError('config.latentDim', student.net.trunkLatentDim, `the chunk size ${D} for a refined student used as a teacher (its refining noise eps is taken to be its trunk's z)`, source);
  }
  const L = student.latentDim;
  return {
    condSize: student.condSize,
    chunkSize: D,
    sampling: 'the refined student: trunk, then its refining step with eps = z',
    sampleNormalized(cond, noise, batch) {
      const latent = new Float32Array(batch * L);
      for (let b = 0; b < batch; b++) {
        const z = noise.subarray(b * D, (b + 1) * D);
        latent.set(z, b * L);
        latent.set(z, b * L + D);
      }
      return { chunks: student.generateNormalized(cond, latent, batch) };
    },
  };
}
