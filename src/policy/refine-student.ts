import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { InputError } from '../core/errors.js';
import type { WeightMap } from '../nets/params.js';
import { readCheckpoint, type CheckpointContents } from './checkpoint.js';
import type { FlowPolicyConfig } from './config.js';
import { REFINE_PREFIX, StudentConfig } from './student-config.js';

type Parts<C extends StudentConfig | FlowPolicyConfig> = Pick<CheckpointContents<C>, 'config' | 'stats' | 'weights'>;

/**
 * A refined student (StudentRefine in student-config.ts): the student with a
 * flow teacher's network appended as its correction step from time `time`.
 * No training: the two networks are used as they are. The teacher must read
 * and write what the student does, with the same normalisation statistics
 * (the two nets share one normaliser); a student that is already refined is
 * refused rather than stacked. `names` label the two in errors.
 */
export function refinedStudent(
  student: Parts<StudentConfig>,
  teacher: Parts<FlowPolicyConfig>,
  time: number,
  names: { student: string; teacher: string } = { student: 'student', teacher: 'teacher' },
): Parts<StudentConfig> {
  if (!(Number.isFinite(time) && time > 0 && time < 1)) throw new InputError('time', time, 'a number strictly between 0 and 1 (the share of the student chunk kept before the teacher step; 0.9 on Push-T)');
  if (student.config.refine) throw new InputError('student', names.student, `a student without a refine stage (this one already refines with a teacher step from time ${student.config.refine.time})`);
  for (const field of ['observation', 'action', 'normalization'] as const) {
    if (!isDeepStrictEqual(student.config[field], teacher.config[field])) {
      throw new InputError('teacher', names.teacher, `a flow teacher with the student's ${field} (${JSON.stringify(student.config[field])}); it has ${JSON.stringify(teacher.config[field])}`);
    }
  }
  for (const key of new Set([...Object.keys(student.stats), ...Object.keys(teacher.stats)])) {
    if (!isDeepStrictEqual(student.stats[key], teacher.stats[key])) {
      throw new InputError('teacher', names.teacher, `a flow teacher with the student's normalisation statistics (the two nets share one normaliser); '${key}' differs (train both on the same dataset)`);
    }
  }
  const weights: WeightMap = new Map(student.weights);
  for (const [name, w] of teacher.weights) weights.set(REFINE_PREFIX + name, w);
  return { config: StudentConfig.parse({ ...student.config, refine: { time, net: teacher.config.net } }), stats: student.stats, weights };
}

/** refinedStudent of two checkpoint files, with where they came from in the meta. */
export function refineStudent(studentPath: string, teacherPath: string, time: number): CheckpointContents<StudentConfig> {
  const student = readCheckpoint(studentPath, { kind: 'student' });
  const teacher = readCheckpoint(teacherPath, { kind: 'flow' });
  const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  return {
    ...refinedStudent(student, teacher, time, { student: studentPath, teacher: teacherPath }),
    meta: {
      ...student.meta,
      createdAt: new Date().toISOString(),
      refinedFrom: studentPath,
      refinedFromSha256: sha256(studentPath),
      refineTeacher: teacherPath,
      refineTeacherSha256: sha256(teacherPath),
    },
  };
}
