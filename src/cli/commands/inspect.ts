import { Command } from 'commander';
import { statSync } from 'node:fs';
import { useBackend } from '../../core/backend.js';
import { policyRegistry, readCheckpoint } from '../../policy/checkpoint.js';
import { resolveCheckpointPath } from '../../policy/policy-source.js';
import { blockCount } from '../../policy/lfm-config.js';
import { latentDimOf } from '../../policy/student-config.js';
import { info, printJson, table } from '../output.js';

const fmt = (a: number[]): string => `[${a.map((v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3))).join(', ')}]`;

export function inspectCommand(): Command {
  return new Command('inspect')
    .description('Print a checkpoint: config, normalisation statistics, parameter count, backend')
    .argument('<checkpoint>', 'checkpoint file (.fpk), or a run or preset folder (its checkpoint)')
    .option('--backend <name>', 'tensor backend to report as the one that would run it (env FLOWPOLICY_BACKEND)')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText('after', '\nExamples:\n  flowpolicy inspect runs/pusht/checkpoint.fpk --json\n  flowpolicy inspect policies/pusht-state')
    .action(async (given: string, opts: { backend?: string; json?: boolean }) => {
      const backend = await useBackend(opts.backend);
      const checkpoint = resolveCheckpointPath(given, 'checkpoint');
      const c = readCheckpoint(checkpoint);
      // Building the network (no weights) checks the stored tensors against the config.
      const registry = policyRegistry(c.config);
      registry.validate(c.weights, checkpoint);
      const parameters = registry.count();
      const bytes = statSync(checkpoint).size;
      if (opts.json) {
        printJson({
          path: checkpoint,
          bytes,
          meta: c.meta,
          config: c.config,
          stats: c.stats,
          parameters,
          tensors: c.weights.size,
          backend: backend.name,
        });
        return;
      }
      info(`backend: ${backend.detail}`);
      const cfg = c.config;
      const lines: [string, string][] = [
        ['file', `${checkpoint} (${(bytes / 1024).toFixed(1)} KiB, checksum verified)`],
        ['written', `${c.meta.createdAt} by flowpolicy ${c.meta.flowpolicyVersion}${c.meta.step !== undefined ? ` at step ${c.meta.step}` : ''}`],
        ['trained on', `${c.meta.dataset ?? '-'} (backend ${c.meta.backend ?? '-'})`],
        ...(typeof c.meta.teacher === 'string' ? [['teacher', teacherLine(c.meta)] as [string, string]] : []),
        cfg.kind === 'flow'
          ? ['policy', `${cfg.kind} (conditional flow matching, ${cfg.flow.path} path, t: ${cfg.flow.timeSampler.kind}${cfg.flow.otCoupling ? ', OT coupling' : ''})`]
          : cfg.kind === 'lfm'
            ? ['policy', `${cfg.kind} (Local Flow Matching, ${blockCount(cfg.lfm.schedule)} blocks, ${cfg.lfm.schedule.kind} schedule, ${cfg.lfm.interpolant} interpolant, t: ${cfg.flow.timeSampler.kind})`]
            : ['policy', `${cfg.kind} (one-step, IMLE-distilled; latent size ${latentDimOf(cfg)}${cfg.anchors ? `, ${cfg.anchors.count} anchors drawn by a gate` : ''}${cfg.refine ? `; refined by one teacher Euler step from t = ${cfg.refine.time}` : ''})`],
        ...(cfg.kind === 'student' && cfg.refine ? [['refined with', `${String(c.meta.refineTeacher ?? '-')} (${JSON.stringify(cfg.refine.net)})`] as [string, string]] : []),
        ...(cfg.kind === 'student' && cfg.anchors ? [['gate', gateLine(cfg.anchors, c.meta.gate)] as [string, string]] : []),
        ['network', `${JSON.stringify(cfg.net)}`],
        ['parameters', `${parameters.toLocaleString('en-US')} in ${c.weights.size} tensors`],
        ['observation', `${cfg.observation.features.map((f) => `${f.key} [${f.shape}]`).join(' + ')}, horizon To = ${cfg.observation.horizon}`],
        ['action', `${cfg.action.key} [${cfg.action.dim}], horizon Tp = ${cfg.action.horizon}, execute Ta = ${cfg.action.execute}`],
        cfg.kind === 'student'
          ? ['inference', cfg.refine ? 'two network calls per chunk (the student, then the teacher step)' : cfg.anchors ? 'one network call per chunk, after its gate' : 'one network call per chunk']
          : [
              'inference',
              `${cfg.inference.method}${cfg.inference.method === 'dopri5' ? ` (rtol ${cfg.inference.rtol}, atol ${cfg.inference.atol})` : `, ${cfg.inference.steps} steps`}${cfg.kind === 'lfm' ? ' per block' : ''}`,
            ],
        ['runs here on', backend.name],
      ];
      process.stdout.write(`${table(lines)}\n\nnormalisation statistics:\n`);
      for (const [key, s] of Object.entries(c.stats)) {
        process.stdout.write(`  ${key} (${cfg.normalization[key] ?? 'unused'})\n${table([
          ['    min', fmt(s.min)],
          ['    max', fmt(s.max)],
          ['    mean', fmt(s.mean)],
          ['    std', fmt(s.std)],
        ])}\n`);
      }
    });
}

/** Where a distilled checkpoint came from: its teacher, the teacher file's digest, and how. */
function teacherLine(meta: Record<string, unknown>): string {
  const how = meta.distilled === 'reflow' ? 'reflowed' : meta.distilled === 'blocks' ? 'its blocks distilled to one step' : `${String(meta.objective ?? 'imle')} distillation`;
  const digest = typeof meta.teacherSha256 === 'string' ? `, sha256 ${meta.teacherSha256.slice(0, 12)}` : '';
  return `${String(meta.teacher)} (${how}${digest})`;
}

/** An anchored student's gate: its size, and how well it was fitted (the distillation's record). */
function gateLine(anchors: { count: number; hidden: number; layers: number }, meta: unknown): string {
  const size = `ReLU MLP ${anchors.layers} x ${anchors.hidden} -> ${anchors.count} logits`;
  const fit = meta as { fitted?: boolean; valLoss?: number; uniformLoss?: number } | undefined;
  if (!fit || typeof fit !== 'object') return size;
  if (!fit.fitted) return `${size}; not fitted yet (uniform over the anchors)`;
  return `${size}; held-out cross-entropy ${fit.valLoss?.toFixed(4)} (uniform ${fit.uniformLoss?.toFixed(4)})`;
}
