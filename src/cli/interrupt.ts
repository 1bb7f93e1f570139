import { info } from './output.js';

/**
 * Ctrl-C for long commands: the first asks the work to stop cleanly (the
 * returned signal aborts and `message` says what happens now), a second
 * quits at once with 130. Call `release()` when the work is done.
 */
export function interruptOnSigint(message: string): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    info(`\ninterrupt: ${message} (Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}
