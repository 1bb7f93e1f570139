import { appendFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { FlowpolicyError, InputError } from '../../core/errors.js';
import { RecentSamples } from '../../core/stats.js';
import { checkKernelOption } from '../../policy/policy-source.js';
import { REALTIME_KERNELS } from '../../policy/realtime-mlp.js';
import { ActionStreamer, type StreamerState } from '../../ros/action-streamer.js';
import { RosConnection, type RosAuth } from '../../ros/connection.js';
import { InlineRunner, type InferenceRunner } from '../../ros/inference.js';
import { decodeJpeg } from '../../ros/jpeg-decode.js';
import { decodePng } from '../../ros/png-decode.js';
import { createPolicy } from '../../ros/policy-source.js';
import { parseRobotConfig, type RobotConfig } from '../../ros/ros-config.js';
import { WorkerRunner } from '../../ros/worker-runner.js';
import { info, printJson } from '../output.js';
import { readJsonArg, readJsonFile } from '../read-json.js';
import { intFlag, positiveFlag } from '../numbers.js';

/** p50, p99 and max of a loop's samples, for the summary (null before any). */
function summarize(s: RecentSamples): { p50: number | null; p99: number | null; max: number | null } {
  return { p50: s.quantile(0.5), p99: s.quantile(0.99), max: s.max };
}

function parseAuth(text: string): RosAuth {
  const a = readJsonArg(text, '--auth') as Record<string, unknown>;
  const keys = ['mac', 'client', 'dest', 'rand', 't', 'level', 'end'] as const;
  for (const k of keys) {
    const want = k === 't' || k === 'end' ? 'number' : 'string';
    if (typeof a?.[k] !== want) throw new InputError(`--auth.${k}`, a?.[k], `a ${want}`);
  }
  return a as unknown as RosAuth;
}

/** Connection, runner and streamer for one deployment; shared with `record`'s setup of a connection. */
export async function openConnection(url: string, authText?: string, timeoutMs = 5000): Promise<RosConnection> {
  return RosConnection.open({ url, auth: authText ? parseAuth(authText) : undefined, connectTimeoutMs: timeoutMs });
}

export function deployCommand(): Command {
  return new Command('deploy')
    .description('Run a policy on a robot over ROS (rosbridge): observations from topics, commands at a fixed rate, safety limits')
    .argument('<policy>', 'checkpoint file (.fpk), run or preset folder, or scripted:<sine|constant|hold|nan>[?key=value&...] (joint-space test policies)')
    .requiredOption('--ros <url>', 'rosbridge WebSocket URL, e.g. ws://127.0.0.1:9090')
    .requiredOption('--config <robot.json>', 'robot config: topics, joints, limits, rate, merge mode, ROS version')
    .option('--duration <seconds>', 'stop (cleanly) after this long')
    .option('--auth <json>', 'rosbridge authentication {mac, client, dest, rand, t, level, end}: inline JSON, @file.json or -')
    .option('--connect-timeout <ms>', 'how long to wait for the socket to open', '5000')
    .option('--inline', 'run inference on the main thread instead of a worker thread (cheap policies only)')
    .option('--seed <n>', 'seed of the policy noise', '0')
    .option('--backend <name>', 'tensor backend for a checkpoint (env FLOWPOLICY_BACKEND)')
    .option('--kernel <name>', `a student's real-time kernel: ${REALTIME_KERNELS.join(', ')} (default wasm-simd)`)
    .option('--events <file>', 'write state changes and interventions as JSON lines')
    .option('--status-interval <ms>', 'how often the status line on stderr is refreshed', '500')
    .option('--json', 'print a JSON summary on stdout at the end')
    .addHelpText(
      'after',
      `
The stream starts once every observation topic has a fresh, finite message.
It stops and holds on stale or NaN observations (and resumes when they are
fresh again, unless safety.resume is "never"), stops publishing the moment
the connection is lost (reconnecting with backoff, resuming only after fresh
observations), and stops for good on the e-stop topic. Ctrl-C brakes to rest
within the limits and exits; a second Ctrl-C exits at once.

Exit status: 0 stopped by Ctrl-C or --duration, 3 e-stop, 1 connection given
up or policy failure, 2 bad input.

Example:
  flowpolicy deploy runs/arm/checkpoint.fpk --ros ws://127.0.0.1:9090 --config robot.json`,
    )
    .action(async (policySpec: string, opts: Record<string, string | boolean | undefined>) => {
      const config: RobotConfig = parseRobotConfig(readJsonFile(String(opts.config), '--config'), String(opts.config));
      const duration = opts.duration !== undefined ? positiveFlag(opts.duration, '--duration') : undefined;
      const statusEvery = positiveFlag(opts.statusInterval, '--status-interval');
      const seed = intFlag(opts.seed, '--seed');
      const kernel = checkKernelOption(policySpec, opts.kernel as string | undefined);
      const eventsPath = opts.events ? String(opts.events) : undefined;
      if (eventsPath) writeFileSync(eventsPath, '');
      const t0 = performance.now();
      const event = (type: string, body: Record<string, unknown>) => {
        if (eventsPath) appendFileSync(eventsPath, `${JSON.stringify({ type, t: (performance.now() - t0) / 1000, wall: Date.now(), ...body })}\n`);
      };

      const runner: InferenceRunner = opts.inline
        ? new InlineRunner(await createPolicy(policySpec, { seed, backend: opts.backend as string | undefined, kernel }))
        : await WorkerRunner.start(policySpec, { seed, backend: opts.backend as string | undefined, kernel });
      let conn: RosConnection;
      try {
        conn = await openConnection(String(opts.ros), opts.auth as string | undefined, positiveFlag(opts.connectTimeout, '--connect-timeout'));
      } catch (err) {
        await runner.close();
        throw err;
      }
      let streamer: ActionStreamer;
      try {
        streamer = new ActionStreamer({ connection: conn, config, runner, decoders: { png: decodePng, jpeg: decodeJpeg } });
      } catch (err) {
        conn.close();
        await runner.close();
        throw err;
      }
      info(`deploy: ${runner.io.kind} policy -> ${config.command.topic} (${config.command.type}) at ${config.rate} Hz, merge ${config.action.merge.mode}; waiting for observations`);

      const tty = process.stderr.isTTY;
      let statusShown = false;
      const statusLine = () => {
        const s = streamer.status();
        const iv = s.interventions;
        const line = `${s.state.padEnd(12)} ${s.rateHz.toFixed(0).padStart(4)} Hz  latency ${s.latencyMs.toFixed(1)} ms  queue ${s.queueDepth}  clamps ${s.clamps}  published ${s.published}  stale ${iv.stale ?? 0}  nan ${iv.nan ?? 0}  lost ${iv.lost ?? 0}`;
        if (tty) {
          process.stderr.write(`\r\x1b[2K${line}`);
          statusShown = true;
        } else info(line);
      };
      const say = (line: string) => {
        if (tty && statusShown) process.stderr.write('\r\x1b[2K');
        statusShown = false;
        info(line);
      };
      const latencies = new RecentSamples();
      let endReason: string | undefined;
      let lastState: StreamerState = streamer.state;

      streamer.on('state', (e) => {
        lastState = e.to;
        say(`[${((e.at - t0) / 1000).toFixed(2)} s] ${e.from} -> ${e.to}${e.reason ? ` (${e.reason})` : ''}`);
        event('state', { from: e.from, to: e.to, reason: e.reason ?? null, tick: e.tick, published: streamer.status().published });
      });
      streamer.on('intervention', (e) => {
        event('intervention', { kind: e.kind, joint: e.joint ?? null, detail: e.detail ?? null, tick: e.tick });
        if (e.kind !== 'position' && e.kind !== 'velocity' && e.kind !== 'acceleration' && e.kind !== 'underrun') say(`intervention: ${e.kind}${e.detail ? ` (${e.detail})` : ''}`);
      });
      streamer.on('chunk', (c) => {
        latencies.push(c.latencyMs);
      });
      conn.on('lost', (e) => event('connection', { state: 'lost', reason: e.reason }));
      conn.on('reconnecting', (e) => event('connection', { state: 'reconnecting', attempt: e.attempt, delayMs: e.delayMs }));
      conn.on('connected', () => event('connection', { state: 'connected' }));
      conn.on('status', (s) => {
        event('rosbridge-status', { level: s.level, msg: s.msg });
        if (s.level === 'error') say(`rosbridge: ${s.msg}`);
      });

      const stopped = new Promise<void>((resolve) => streamer.on('end', ({ reason }) => {
        endReason ??= reason;
        resolve();
      }));
      let interrupts = 0;
      const onSignal = (signal: string) => {
        interrupts++;
        if (interrupts > 1) {
          say('second interrupt: exiting now');
          process.exit(130);
        }
        endReason = signal === 'SIGTERM' ? 'terminated' : 'interrupted';
        say(`${signal}: braking to rest, then exiting (again to exit at once)`);
        void streamer.stop('interrupt', endReason);
      };
      const onInt = () => onSignal('SIGINT');
      const onTerm = () => onSignal('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      const durationTimer =
        duration !== undefined
          ? setTimeout(() => {
              endReason = 'duration';
              void streamer.stop('interrupt', 'duration');
            }, duration * 1000)
          : undefined;
      const statusTimer = setInterval(statusLine, statusEvery);
      let failure: FlowpolicyError | undefined;
      conn.on('failed', (err) => {
        failure = err;
        endReason = 'connection failed';
      });

      streamer.start();
      await stopped;
      clearInterval(statusTimer);
      clearTimeout(durationTimer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      const s = streamer.status();
      if (tty && statusShown) process.stderr.write('\n');
      conn.close();
      await runner.close();

      const summary = {
        reason: endReason ?? 'stopped',
        state: lastState,
        published: s.published,
        ticks: s.tick + 1,
        overruns: s.overruns,
        chunks: s.chunks,
        delayTicks: s.delayTicks,
        clamps: s.clamps,
        interventions: s.interventions,
        latencyMs: summarize(latencies),
        tickLatenessMs: summarize(streamer.lateness),
        durationS: (performance.now() - t0) / 1000,
      };
      event('end', summary);
      if (opts.json) printJson(summary);
      else info(`stopped (${summary.reason}): ${s.published} commands, ${s.clamps} clamps, ${s.overruns} overruns, interventions ${JSON.stringify(s.interventions)}`);
      if (failure) throw failure;
      if (lastState === 'estopped') process.exitCode = 3;
    });
}
