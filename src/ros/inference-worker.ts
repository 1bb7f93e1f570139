import { parentPort, workerData } from 'node:worker_threads';
import type { ObservationFrame, Policy } from '../policy/policy.js';
import type { RealtimeKernel } from '../policy/realtime-mlp.js';
import { createPolicy } from './policy-source.js';

/**
 * The worker side of WorkerRunner: loads the policy once, then answers
 * {id, frames, timeS} with {id, chunk} or {id, error}.
 */
interface Init {
  spec: string;
  seed?: number;
  backend?: string;
  kernel?: RealtimeKernel;
}

const port = parentPort;
if (!port) throw new Error('inference-worker.js runs as a worker thread');
const init = workerData as Init;
let policy: Policy;
try {
  policy = await createPolicy(init.spec, { seed: init.seed, backend: init.backend, kernel: init.kernel });
  port.postMessage({ ready: true, io: policy.config });
} catch (err) {
  port.postMessage({ ready: false, error: (err as Error).message, name: (err as Error).name });
  process.exit(0);
}

port.on('message', (msg: { id: number; frames?: ObservationFrame[]; timeS?: number; reset?: boolean }) => {
  if (msg.reset) {
    policy.reset();
    return;
  }
  try {
    const chunk = policy.act(msg.frames!, { timeS: msg.timeS } as never);
    port.postMessage({ id: msg.id, chunk }, [chunk.actions.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, error: (err as Error).message });
  }
});
