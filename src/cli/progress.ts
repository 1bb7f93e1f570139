import cliProgress from 'cli-progress';

export interface ProgressUpdate {
  step: number;
  total: number;
  loss: number;
  valLoss: number | null;
}

/**
 * Training progress on stderr (stdout stays clean for --json): a live bar
 * with loss, validation loss, speed and ETA on a terminal; one line per 10%
 * otherwise, so CI logs stay readable.
 */
export class TrainProgress {
  private readonly bar: cliProgress.SingleBar | null;
  private started = 0;
  private startStep = 0;
  private lossAvg: number | null = null;
  private lastDecile = -1;
  private readonly enabled: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    enabled = true,
  ) {
    this.bar =
      enabled && stream.isTTY
        ? new cliProgress.SingleBar(
            {
              stream,
              format: 'train |{bar}| {percentage}% | step {value}/{total} | loss {loss} | val {val} | {speed} it/s | ETA {eta_formatted}',
              barsize: 24,
              hideCursor: true,
              etaBuffer: 50,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    this.enabled = enabled;
  }

  start(startStep: number, total: number): void {
    this.started = performance.now();
    this.startStep = startStep;
    this.bar?.start(total, startStep, { loss: '-', val: '-', speed: '-' });
  }

  update(u: ProgressUpdate): void {
    // Smoothed loss: single-batch losses of flow matching are noisy.
    this.lossAvg = this.lossAvg === null ? u.loss : 0.98 * this.lossAvg + 0.02 * u.loss;
    const secs = (performance.now() - this.started) / 1000;
    const speed = secs > 0 ? (u.step - this.startStep) / secs : 0;
    const payload = { loss: this.lossAvg.toFixed(4), val: u.valLoss === null ? '-' : u.valLoss.toFixed(4), speed: speed.toFixed(1) };
    if (this.bar) {
      this.bar.update(u.step, payload);
      return;
    }
    if (!this.enabled) return;
    const decile = Math.floor((10 * u.step) / u.total);
    if (decile !== this.lastDecile || u.step === u.total) {
      this.lastDecile = decile;
      const eta = speed > 0 ? (u.total - u.step) / speed : 0;
      this.stream.write(`train ${u.step}/${u.total} (${Math.round((100 * u.step) / u.total)}%) loss ${payload.loss} val ${payload.val} ${payload.speed} it/s ETA ${formatSeconds(eta)}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
