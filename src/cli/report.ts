import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/files.js';
import { readCheckpoint } from '../policy/checkpoint.js';
import { MetricsLog } from '../train/metrics-log.js';
import { RUN_FILES } from '../train/flow-trainer.js';
import { lineChartSvg } from './plot.js';

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * report.html of a run folder: summary, loss curves (training loss per log
 * interval and validation loss on fixed draws; one pair per block for an
 * LFM chain) and learning rate as inline SVG, and the run config. Self-contained: one file, no scripts.
 */
export async function writeRunReport(runDir: string): Promise<string> {
  const records = MetricsLog.read(join(runDir, RUN_FILES.metrics));
  const train = records.filter((r) => typeof r.loss === 'number').map((r) => ({ x: r.step, y: r.loss as number }));
  const val = records.filter((r) => typeof r.valLoss === 'number').map((r) => ({ x: r.step, y: r.valLoss as number }));
  const lr = records.filter((r) => typeof r.lr === 'number').map((r) => ({ x: r.step, y: r.lr as number }));
  const speed = records.filter((r) => typeof r.stepsPerSecond === 'number').map((r) => r.stepsPerSecond as number);
  const configPath = join(runDir, RUN_FILES.config);
  const config = existsSync(configPath) ? readFileSync(configPath, 'utf8') : '{}';
  const ckptPath = join(runDir, RUN_FILES.checkpoint);
  const meta = existsSync(ckptPath) ? readCheckpoint(ckptPath).meta : null;

  // An LFM run's records carry their block: each block regresses its own pairs, so its losses are a curve of their own.
  const blocks = [...new Set(records.map((r) => r.block).filter((b): b is number => typeof b === 'number'))].sort((a, b) => a - b);
  const ofBlock = (n: number, key: 'loss' | 'valLoss') => records.filter((r) => r.block === n && typeof r[key] === 'number').map((r) => ({ x: r.step, y: r[key] as number }));
  const losses = await lineChartSvg(
    blocks.length
      ? {
          title: `LFM loss per block (${blocks.length} blocks, trained one after another)`,
          xTitle: 'step',
          yTitle: 'loss (log scale)',
          logY: true,
          series: blocks.flatMap((n) => [
            { name: `block ${n} train`, points: ofBlock(n, 'loss') },
            { name: `block ${n} validation`, points: ofBlock(n, 'valLoss') },
          ]),
        }
      : {
          title: 'Flow-matching loss',
          xTitle: 'step',
          yTitle: 'loss (log scale)',
          logY: true,
          series: [
            { name: 'train', points: train },
            { name: 'validation (EMA weights)', points: val },
          ],
        },
  );
  const lrChart = await lineChartSvg({ title: 'Learning rate', xTitle: 'step', yTitle: 'lr', series: [{ name: 'lr', points: lr }], height: 160 });

  const last = <T,>(a: T[]): T | undefined => a[a.length - 1];
  const rows: [string, string][] = [
    ['run folder', runDir],
    ['step', String(meta?.step ?? last(records)?.step ?? 0)],
    ['backend', String(meta?.backend ?? '-')],
    ['dataset', String(meta?.dataset ?? '-')],
    ['train loss (last interval)', last(train)?.y.toFixed(5) ?? '-'],
    ...(blocks.length
      ? blocks.map((n): [string, string] => {
          const v = ofBlock(n, 'valLoss');
          return [`block ${n} validation loss (first → last)`, v.length ? `${v[0].y.toFixed(5)} → ${last(v)!.y.toFixed(5)}` : '-'];
        })
      : [['validation loss (first → last)', val.length ? `${val[0].y.toFixed(5)} → ${last(val)!.y.toFixed(5)}` : '-'] as [string, string]]),
    ['steps / s (mean)', speed.length ? (speed.reduce((a, b) => a + b, 0) / speed.length).toFixed(2) : '-'],
    ['checkpoint written', String(meta?.createdAt ?? '-')],
  ];
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flowpolicy run report</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}table{border-collapse:collapse}td{padding:.2rem .8rem;border-bottom:1px solid #eee}td:first-child{color:#666}pre{background:#f6f6f6;padding:1rem;overflow:auto}figure{margin:1rem 0}</style>
</head><body>
<h1>flowpolicy — training report</h1>
<table>${rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<figure>${losses}</figure>
<figure>${lrChart}</figure>
<h2>Run config</h2>
<pre>${escapeHtml(config)}</pre>
</body></html>
`;
  const path = join(runDir, RUN_FILES.report);
  writeFileAtomic(path, html);
  return path;
}
