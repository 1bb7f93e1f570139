import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/files.js';

export interface MetricRecord {
  step: number;
  [key: string]: number | string | null;
}

/**
 * Metrics as JSON Lines, one record per line, appended as training runs.
 * On resume the log is cut back to the resumed step, so replayed steps are
 * not recorded twice.
 */
export class MetricsLog {
  constructor(readonly path: string) {}

  /** Keep only records with step <= `step` (all, if no file yet). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = MetricsLog.read(this.path).filter((r) => r.step <= step);
    writeFileAtomic(this.path, kept.map((r) => JSON.stringify(r)).join('\n') + (kept.length ? '\n' : ''));
  }

  write(record: MetricRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }

  /**
   * The training loss of the last record in (after, upTo] carrying `tags`
   * (a block's records), or null: what a resumed run reports before it has
   * logged a window of its own.
   */
  static lastLoss(path: string, range: { after?: number; upTo: number; tags?: Record<string, number> }): number | null {
    const tags = Object.entries(range.tags ?? {});
    const after = range.after ?? 0;
    const records = MetricsLog.read(path).filter(
      (r) => r.step > after && r.step <= range.upTo && typeof r.loss === 'number' && tags.every(([k, v]) => r[k] === v),
    );
    return records.length ? (records[records.length - 1].loss as number) : null;
  }

  static read(path: string): MetricRecord[] {
    if (!existsSync(path)) return [];
    const out: MetricRecord[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as MetricRecord);
      } catch {
        // A line cut by a crash mid-write: everything before it is intact.
      }
    }
    return out;
  }
}
