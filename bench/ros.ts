/**
 * The action streamer through a rosbridge at 100 Hz: `flowpolicy deploy`
 * (the built CLI) drives the rospy robot through the rosbridge peer on a
 * real roscore for 30 s; the robot records when each command arrived.
 * Printed, all from one run:
 *
 *   - jitter: |arrival interval - 10 ms| at the robot, p50 / p99 / max, in
 *     ms and as a fraction of the period; and the SDK's own tick lateness;
 *   - drops: commands published but not received (lost in the bridge), and
 *     ticks skipped because the loop fell more than a period behind;
 *   - a second, shorter pair of runs with a slow policy (40 ms a call,
 *     four ticks): inference on a worker thread vs on the control loop's
 *     thread, as ratios of their tick lateness p99 and skipped ticks (what
 *     the worker buys).
 *
 *   node --import tsx bench/ros.ts [--seconds 30] [--rate 100] [--pair-seconds 10] [--json]
 *
 * Needs ROS 1 from Debian (see test/ros/harness.ts for the apt line).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { quantile } from '../src/core/stats.js';
import { requireRos, robotConfig, startPeer, startProc, startRobot, startRoscore, stopAll, type RobotLog } from '../test/ros/harness.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '100' },
    'pair-seconds': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
// Jitter is measured between consecutive ticks only; a blocked loop shows as skipped ticks and tick lateness.
const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const PAIR_SECONDS = Number(args['pair-seconds']);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');

interface RunResult {
  label: string;
  published: number;
  received: number;
  dropped: number;
  skippedTicks: number;
  jitterMs: { p50: number; p99: number; max: number };
  tickLatenessMs: { p50: number; p99: number };
  rateHz: number;
  clamps: number;
  inferenceMs: { p50: number; p99: number };
}

async function run(label: string, policy: string, seconds: number, extra: string[], env: Record<string, string>, url: string, dir: string): Promise<RunResult> {
  const period = 1 / RATE;
  const limits = { position: [[-1, 1], [-1, 1], [-1, 1]], velocity: [1, 1, 1], acceleration: [4, 4, 4] };
  const robot = await startRobot(env, dir, ['--rate', String(RATE), '--limits', JSON.stringify(limits), '--state-rate', String(RATE)]);
  const cfg = join(dir, `${label}.json`);
  writeFileSync(cfg, JSON.stringify(robotConfig({ rate: RATE })));
  const d = startProc(process.execPath, [CLI, 'deploy', policy, '--ros', url, '--config', cfg, '--duration', String(seconds), '--json', '--status-interval', '5000', ...extra], env);
  const code = await d.exited;
  const log: RobotLog = await robot.finish();
  if (code !== 0) throw new Error(`deploy exited ${code}:\n${d.stderr()}`);
  const summary = JSON.parse(d.stdout());
  const stamps = log.commands.map((c) => c.stamp!);
  const arrivals = log.commands.map((c) => c.mono);
  // Jitter between consecutive ticks only (a skipped tick is counted as a drop, not as jitter).
  const dev: number[] = [];
  for (let i = 1; i < arrivals.length; i++) {
    const ticks = Math.round((stamps[i] - stamps[i - 1]) / period);
    if (ticks === 1) dev.push(Math.abs(arrivals[i] - arrivals[i - 1] - period) * 1000);
  }
  const skipped = stamps.slice(1).reduce((n, s, i) => n + Math.max(0, Math.round((s - stamps[i]) / period) - 1), 0);
  return {
    label,
    published: summary.published,
    received: log.checks.count,
    dropped: summary.published - log.checks.count,
    skippedTicks: skipped,
    jitterMs: { p50: quantile(dev, 0.5), p99: quantile(dev, 0.99), max: Math.max(...dev) },
    tickLatenessMs: { p50: summary.tickLatenessMs.p50, p99: summary.tickLatenessMs.p99 },
    rateHz: log.checks.rate_hz ?? Number.NaN,
    clamps: summary.clamps,
    inferenceMs: { p50: summary.latencyMs.p50, p99: summary.latencyMs.p99 },
  };
}

async function main(): Promise<void> {
  requireRos();
  process.stderr.write('building dist/ (the bench runs the built CLI) ...\n');
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'flowpolicy-bench-ros-'));
  const core = await startRoscore();
  const peer = await startPeer(core.env);
  const results: RunResult[] = [];
  try {
    process.stderr.write(`main run: ${RATE} Hz for ${SECONDS} s ...\n`);
    results.push(await run('main', `scripted:sine?amp=0.3&period=3&rate=${RATE}`, SECONDS, [], core.env, peer.url, dir));
    if (PAIR_SECONDS > 0) {
      const slow = `scripted:sine?amp=0.3&period=3&rate=${RATE}&latency=40&horizon=32&execute=16`;
      process.stderr.write(`slow policy (40 ms a call): worker vs inline, ${PAIR_SECONDS} s each ...\n`);
      results.push(await run('slow-worker', slow, PAIR_SECONDS, [], core.env, peer.url, dir));
      results.push(await run('slow-inline', slow, PAIR_SECONDS, ['--inline'], core.env, peer.url, dir));
    }
  } finally {
    await stopAll();
    rmSync(core.logDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  const [main, worker, inline] = results;
  const periodMs = 1000 / RATE;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ rate: RATE, seconds: SECONDS, results, workerVsInlineTickLatenessP99: worker && inline ? worker.tickLatenessMs.p99 / inline.tickLatenessMs.p99 : null }, null, 2)}\n`);
    return;
  }
  const f = (x: number) => x.toFixed(3);
  const lines = [
    `ROS bridge streaming, ${RATE} Hz (period ${periodMs} ms), rosbridge peer + roscore on this machine`,
    '',
    `run           seconds  published  received  dropped  skipped ticks  rate Hz   jitter p50 ms  p99 ms  max ms   p99/period  tick lateness p50/p99 ms`,
    ...results.map(
      (r) =>
        `${r.label.padEnd(13)} ${String(r.label === 'main' ? SECONDS : PAIR_SECONDS).padStart(7)}  ${String(r.published).padStart(9)}  ${String(r.received).padStart(8)}  ${String(r.dropped).padStart(7)}  ${String(r.skippedTicks).padStart(13)}  ${r.rateHz.toFixed(2).padStart(7)}   ${f(r.jitterMs.p50).padStart(13)}  ${f(r.jitterMs.p99).padStart(6)}  ${f(r.jitterMs.max).padStart(6)}   ${(r.jitterMs.p99 / periodMs).toFixed(3).padStart(10)}  ${f(r.tickLatenessMs.p50)}/${f(r.tickLatenessMs.p99)}`,
    ),
  ];
  if (worker && inline) {
    lines.push(
      '',
      `slow policy (inference p50 ${f(worker.inferenceMs.p50)} ms on the worker, ${f(inline.inferenceMs.p50)} ms inline): worker / inline tick lateness p99 = ${(worker.tickLatenessMs.p99 / inline.tickLatenessMs.p99).toFixed(3)}, skipped ticks ${worker.skippedTicks} vs ${inline.skippedTicks} (ratio ${(worker.skippedTicks / Math.max(1, inline.skippedTicks)).toFixed(3)})`,
    );
  }
  lines.push('', `drops in the main run: ${main.dropped} of ${main.published} published commands lost, ${main.skippedTicks} ticks skipped (${((100 * (main.dropped + main.skippedTicks)) / (main.published + main.skippedTicks)).toFixed(3)} %)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
