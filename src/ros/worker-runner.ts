import { Worker } from 'node:worker_threads';
import { FlowpolicyError, InputError } from '../core/errors.js';
import type { ActionChunk, ObservationFrame, PolicyIO } from '../policy/policy.js';
import type { RealtimeKernel } from '../policy/realtime-mlp.js';
import type { InferenceRunner } from './inference.js';

/**
 * Inference on a Node worker thread (the built inference-worker.js beside
 * this file): the policy is loaded there, and a slow network never blocks
 * the control loop's event loop.
 */
export class WorkerRunner implements InferenceRunner {
  private pending = new Map<number, { resolve: (c: ActionChunk) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  private constructor(
    private readonly worker: Worker,
    readonly io: PolicyIO & { kind: string },
  ) {
    worker.on('message', (msg: { id: number; chunk?: ActionChunk; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.chunk) p.resolve(msg.chunk);
      else p.reject(new FlowpolicyError(`policy: ${msg.error}`));
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', () => this.failAll(new FlowpolicyError('inference worker exited')));
  }

  /** Start a worker and load the policy (a checkpoint path or scripted:...) in it. */
  static start(spec: string, options: { seed?: number; backend?: string; kernel?: RealtimeKernel } = {}): Promise<WorkerRunner> {
    const worker = new Worker(new URL('./inference-worker.js', import.meta.url), { workerData: { spec, ...options } });
    return new Promise((resolve, reject) => {
      const onMessage = (msg: { ready?: boolean; io?: PolicyIO & { kind: string }; error?: string; name?: string }) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        if (msg.ready && msg.io) resolve(new WorkerRunner(worker, msg.io));
        else {
          void worker.terminate();
          reject(msg.name === 'InputError' || msg.name === 'CorruptFileError' ? new InputError('policy', spec, msg.error ?? 'a loadable policy') : new FlowpolicyError(`policy ${spec}: ${msg.error}`));
        }
      };
      const onError = (err: Error) => reject(err);
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  infer(frames: readonly ObservationFrame[], options: { timeS?: number } = {}): Promise<ActionChunk> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, frames, timeS: options.timeS });
    });
  }

  reset(): void {
    this.worker.postMessage({ reset: true });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.failAll(new FlowpolicyError('inference worker closed'));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
