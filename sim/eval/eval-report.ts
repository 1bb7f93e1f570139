import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/core/files.js';
import type { EvalSummary } from './evaluate.js';
import type { EpisodeResult } from './run-episode.js';

export const EVAL_FILES = { json: 'eval.json', html: 'report.html', videos: 'videos' } as const;

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** eval.json: the summary and every episode (without recorded states: those become videos). */
export function writeEvalJson(dir: string, summary: EvalSummary, results: EpisodeResult[]): string {
  mkdirSync(dir, { recursive: true });
  const episodes = results.map(({ states: _states, latenciesMs, ...r }) => ({ ...r, policyCalls: latenciesMs.length, meanLatencyMs: latenciesMs.reduce((a, b) => a + b, 0) / Math.max(1, latenciesMs.length) }));
  const path = join(dir, EVAL_FILES.json);
  writeFileAtomic(path, `${JSON.stringify({ summary, episodes }, null, 2)}\n`);
  return path;
}

/**
 * Render the recorded episodes to GIFs with the task's Three.js scene
 * (headless Chromium). Returns the written paths relative to `dir`.
 */
export async function writeEvalVideos(dir: string, task: string, results: EpisodeResult[], fps: number, size = 256): Promise<string[]> {
  const recorded = results.filter((r) => r.states);
  if (recorded.length === 0) return [];
  const { renderTaskStates, closeRenderer } = await import('../render/renderer.js');
  const { encodeGif } = await import('../render/gif.js');
  mkdirSync(join(dir, EVAL_FILES.videos), { recursive: true });
  const written: string[] = [];
  try {
    for (const r of recorded) {
      const frames = await renderTaskStates(task, r.states!, { width: size, height: size });
      const rel = join(EVAL_FILES.videos, `seed-${r.seed}.gif`);
      writeFileAtomic(join(dir, rel), encodeGif(frames, fps));
      written.push(rel);
    }
  } finally {
    await closeRenderer();
  }
  return written;
}

/** report.html: the two headline numbers, latency, a per-episode table and the videos. One self-contained page but for the GIFs beside it. */
export function writeEvalHtml(dir: string, summary: EvalSummary, results: EpisodeResult[], videos: string[]): string {
  const row = (r: EpisodeResult) =>
    `<tr><td>${r.seed}${r.draw ? ` (noise draw ${r.draw})` : ''}</td><td>${r.maxReward.toFixed(3)}</td><td>${r.maxCoverage.toFixed(3)}</td><td>${r.finalCoverage.toFixed(3)}</td><td>${r.success ? 'yes' : 'no'}</td><td>${r.steps}</td></tr>`;
  const figures: [string, string][] = [
    ['mean max reward (Diffusion Policy paper)', summary.meanMaxReward.toFixed(3)],
    ['success rate (coverage > 0.95, LeRobot)', `${(summary.successRate * 100).toFixed(1)}%`],
    ...(summary.draws > 1 ? ([['noise draws per seed', `${summary.draws} (mean max reward sd ${summary.meanMaxRewardSd.toFixed(3)} across draws)`]] as [string, string][]) : []),
    ['mean max coverage', summary.meanMaxCoverage.toFixed(3)],
    ['mean episode length', summary.meanEpisodeLength.toFixed(1)],
    ['policy call latency p50 / p99', `${summary.latencyMsP50.toFixed(2)} / ${summary.latencyMsP99.toFixed(2)} ms (${summary.policyCalls} calls, backend ${summary.backend})`],
    ['episodes, seeds', `${summary.episodes}, ${summary.firstSeed}-${summary.firstSeed + summary.episodes - 1}`],
    ['wall time', `${summary.wallSeconds.toFixed(1)} s on ${summary.workers} workers`],
  ];
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>flowpolicy eval: ${escapeHtml(summary.task)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}th{background:#f4f4f4}.v{display:inline-block;margin:.5em;text-align:center}</style></head><body>
<h1>Evaluation: ${escapeHtml(summary.task)}</h1>
<p>Policy <code>${escapeHtml(summary.policy)}</code> (${escapeHtml(summary.policyKind)})</p>
<table>${figures.map(([k, v]) => `<tr><th style="text-align:left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
${videos.length ? `<h2>Episodes</h2>${videos.map((v) => `<div class="v"><img src="${escapeHtml(v)}" width="256" height="256"><br>${escapeHtml(v)}</div>`).join('')}` : ''}
<h2>Per episode</h2>
<table><tr><th>seed</th><th>max reward</th><th>max coverage</th><th>final coverage</th><th>success</th><th>steps</th></tr>${results.map(row).join('')}</table>
</body></html>
`;
  const path = join(dir, EVAL_FILES.html);
  writeFileAtomic(path, html);
  return path;
}
