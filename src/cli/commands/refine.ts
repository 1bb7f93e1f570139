import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { saveCheckpoint } from '../../policy/checkpoint.js';
import { resolveCheckpointPath } from '../../policy/policy-source.js';
import { refineStudent } from '../../policy/refine-student.js';
import { latentDimOf } from '../../policy/student-config.js';
import { InputError } from '../../core/errors.js';
import { info, printJson } from '../output.js';

export function refineCommand(): Command {
  return new Command('refine')
    .description("Append a flow teacher's correction step to a one-step student: its chunk, partly re-noised, then one teacher Euler step from --time (no training; two network calls per act)")
    .argument('<student>', 'student checkpoint (.fpk), or its run folder')
    .requiredOption('--teacher <checkpoint>', 'flow teacher checkpoint (.fpk) or run folder, trained on the same data (same normalisation statistics)')
    .requiredOption('--out <file>', 'refined student checkpoint to write (.fpk)')
    .option('--time <tau>', 'share of the student chunk kept: x_tau = (1 - tau) eps + tau x, then x_tau + (1 - tau) v(x_tau, tau)', '0.85')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText(
      'after',
      `
Example:
  flowpolicy refine runs/pusht-student --teacher runs/pusht-teacher --time 0.85 --out runs/pusht-refined.fpk
  flowpolicy eval runs/pusht-refined.fpk --draws 8`,
    )
    .action((studentArg: string, opts: Record<string, string | boolean | undefined>) => {
      const time = Number(opts.time);
      if (!(opts.time !== '' && time > 0 && time < 1)) throw new InputError('--time', opts.time, 'a number strictly between 0 and 1 (0.85 on Push-T)');
      const student = resolveCheckpointPath(studentArg, 'student');
      const teacher = resolveCheckpointPath(String(opts.teacher), '--teacher');
      const out = String(opts.out);
      const refined = refineStudent(student, teacher, time);
      mkdirSync(dirname(out), { recursive: true });
      saveCheckpoint(out, refined);
      const summary = { out, student, teacher, time, latentDim: latentDimOf(refined.config) + refined.config.action.horizon * refined.config.action.dim, networkCalls: 2, tensors: refined.weights.size };
      if (opts.json) return printJson(summary);
      info(`refined ${student} with one Euler step of ${teacher} from t = ${time} (latent ${summary.latentDim}: the student's, then the re-noising); 2 network calls per act`);
      info(`wrote ${out}`);
    });
}
