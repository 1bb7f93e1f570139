import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../../helpers/cli.js';
import {
  freePort,
  LIMITS_ARG,
  readEvents,
  robotConfig,
  sleep,
  startPeer,
  startProc,
  startRobot,
  rosSuite,
  type Roscore,
} from '../../ros/harness.js';

/**
 * Faults on a real ROS graph: the bridge killed mid-stream, stale and NaN
 * observations, actions outside the limits, the e-stop topic, Ctrl-C, and a
 * bridge that is not there. The robot node records what reached ROS; the
 * deploy command's --events file records what the SDK decided and when
 * (wall clock, comparable across processes on this machine).
 */

let core: Roscore;
let dir: string;
rosSuite('flowpolicy-faults-', { ready: (s) => ({ core, dir } = s) });

type Ev = Record<string, unknown> & { type: string; wall: number; to?: string; kind?: string; published?: number; reason?: string };

function config(name: string, overrides: Record<string, unknown> = {}): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(robotConfig(overrides)));
  return path;
}

function deploy(url: string, policy: string, configPath: string, extra: string[] = []) {
  const events = join(dir, `events-${Math.random().toString(36).slice(2)}.jsonl`);
  const proc = startProc(process.execPath, [CLI, 'deploy', policy, '--ros', url, '--config', configPath, '--json', '--events', events, '--status-interval', '1000', ...extra], core.env);
  const read = () => readEvents(events) as Ev[];
  /** Wait for an event matching `pred` after index `from`; returns it and its index. */
  const waitEvent = async (pred: (e: Ev) => boolean, from = 0, timeoutMs = 20_000): Promise<[Ev, number]> => {
    const start = Date.now();
    for (;;) {
      const evs = read();
      for (let i = from; i < evs.length; i++) if (pred(evs[i])) return [evs[i], i];
      if (Date.now() - start > timeoutMs) throw new Error(`no such event in ${timeoutMs} ms; events:\n${evs.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${proc.stderr()}`);
      await sleep(10);
    }
  };
  return { proc, read, waitEvent };
}

const isState = (to: string) => (e: Ev) => e.type === 'state' && e.to === to;

describe('faults', () => {
  it('bridge killed mid-stream: publishing stops at once; reconnects with backoff; resumes only after fresh observations', async () => {
    const port = await freePort();
    let peer = await startPeer(core.env, port);
    const robot = await startRobot(core.env, dir, ['--rate', '50', '--limits', LIMITS_ARG()]);
    const d = deploy(peer.url, 'scripted:sine?amp=0.3&period=3&rate=50', config('kill.json'));
    await d.waitEvent(isState('running'));
    await sleep(1500);

    const killWall = Date.now();
    await peer.proc.stop('SIGKILL');
    const [lost, iLost] = await d.waitEvent(isState('disconnected'));
    // Detected from the socket closing, not from a timeout: within a few ms when idle (150 ms allows for
    // two cores busy with other suites; a timeout-based detection would take the connect timeout, 5 s).
    expect(lost.wall - killWall).toBeLessThan(150);
    await sleep(1500); // reconnection attempts fail meanwhile
    const restartWall = Date.now();
    peer = await startPeer(core.env, port);
    const [priming, iPriming] = await d.waitEvent(isState('priming'), iLost);
    const [, iRunning] = await d.waitEvent(isState('running'), iPriming);
    await sleep(1000);
    d.proc.child.kill('SIGINT');
    expect(await d.proc.exited, d.proc.stderr()).toBe(0);
    const log = await robot.finish();
    await peer.proc.stop();
    const evs = d.read();

    // Nothing was published between the loss and the resumption.
    expect(priming.published).toBe(lost.published);
    expect(iRunning).toBeGreaterThan(iPriming);
    // It waited for the new bridge and for observations through it.
    expect(priming.wall).toBeGreaterThan(restartWall);
    const between = evs.slice(iLost + 1, iPriming);
    expect(between.map((e) => (e.type === 'state' ? e.to : null)).filter(Boolean)).toEqual(['waiting']);
    // Backoff: attempts with growing delays.
    const delays = evs.filter((e) => e.type === 'connection' && e.state === 'reconnecting').map((e) => e.delayMs as number);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays.slice(0, 3)).toEqual([100, 200, 400]);

    // ROS side: in order, within limits throughout (the resumption starts from the measured position, at rest),
    // and nothing stale was flushed on reconnection: every command after the restart was made after it.
    const c = log.checks;
    expect(c.in_order).toBe(true);
    expect(c.violation_count, JSON.stringify(c.violations.slice(0, 5))).toBe(0);
    // Split by the tick each command was made for (its stamp), not by when the robot took it: on busy cores a
    // command the killed bridge had already passed to ROS can reach the robot's callback just after the kill.
    const before = log.commands.filter((m) => m.stamp! * 1000 < killWall);
    const after = log.commands.filter((m) => m.stamp! * 1000 >= killWall);
    expect(before.length).toBeGreaterThan(50);
    expect(after.length).toBeGreaterThan(20);
    const sinceKill = (m: (typeof log.commands)[number]) => ({ arrivedMs: m.t * 1000 - killWall, stampMs: m.stamp! * 1000 - killWall });
    const restartNote = `restart ${restartWall - killWall} ms after the kill`;
    expect(before.filter((m) => m.t * 1000 >= restartWall).map(sinceKill), restartNote).toEqual([]);
    expect(after.filter((m) => !(m.t * 1000 > restartWall && m.stamp! * 1000 > restartWall)).map(sinceKill), restartNote).toEqual([]);
    expect(after[0].stamp! * 1000).toBeGreaterThanOrEqual(priming.wall - 25);
    const summary = JSON.parse(d.proc.stdout());
    // At most the commands in flight in the killed bridge are lost.
    expect(summary.published - log.checks.count).toBeLessThanOrEqual(3);
    expect(summary.interventions.lost).toBe(1);
  });

  it('stale and NaN observations stop and hold, and the stream resumes when they are fresh and finite again', async () => {
    const peer = await startPeer(core.env);
    const robot = await startRobot(core.env, dir, ['--rate', '50', '--limits', LIMITS_ARG(), '--state-rate', '100']);
    const d = deploy(peer.url, 'scripted:sine?amp=0.3&period=2&rate=50', config('stale.json'));
    const [, i0] = await d.waitEvent(isState('running'));
    await sleep(800);

    // Stale: the robot stops publishing its state.
    const staleWall = (await robot.send('stale')) * 1000;
    const [braking1, i1] = await d.waitEvent(isState('braking'), i0);
    const [holding1, i2] = await d.waitEvent(isState('holding'), i1);
    expect(braking1.reason).toMatch(/^stale/);
    // Stopped once the newest state was older than maxAgeMs = 200 (it was <= 10 ms old at the fault), not before.
    expect(braking1.wall - staleWall).toBeGreaterThan(180);
    expect(braking1.wall - staleWall).toBeLessThan(200 + 300); // + a state period, a tick and scheduling on busy cores
    await sleep(500);
    const freshWall = (await robot.send('fresh')) * 1000;
    const [, i3] = await d.waitEvent(isState('running'), i2);
    await sleep(800);

    // NaN: the robot's state turns NaN (sent by the bridge as null; JSON has no NaN).
    const nanWall = (await robot.send('nan')) * 1000;
    const [braking2, i4] = await d.waitEvent(isState('braking'), i3);
    const [holding2, i5] = await d.waitEvent(isState('holding'), i4);
    expect(braking2.reason).toMatch(/^nan/);
    expect(braking2.wall - nanWall).toBeLessThan(300); // the next state (10 ms) and tick (20 ms), plus scheduling
    await sleep(500);
    const okWall = (await robot.send('ok')) * 1000;
    await d.waitEvent(isState('running'), i5);
    await sleep(500);
    d.proc.child.kill('SIGINT');
    expect(await d.proc.exited, d.proc.stderr()).toBe(0);
    const log = await robot.finish();
    const summary = JSON.parse(d.proc.stdout());

    // Held: no command was made between the hold and the recovery (by the tick stamps, which do not depend
    // on how long the bridge took to deliver), and none arrived while held.
    const made = (from: number, to: number) => log.commands.filter((m) => m.stamp! * 1000 > from + 2 && m.stamp! * 1000 < to); // a timer may fire ~1 ms early
    expect(made(holding1.wall, freshWall)).toEqual([]);
    expect(made(holding2.wall, okWall)).toEqual([]);
    expect(log.commands.filter((m) => m.t * 1000 > holding1.wall + 500 && m.t * 1000 < freshWall)).toEqual([]);
    // The braking in between stayed within the limits, and so did the resumptions from rest.
    expect(log.checks.violation_count, JSON.stringify(log.checks.violations.slice(0, 5))).toBe(0);
    expect(log.checks.in_order).toBe(true);
    expect(log.checks.count).toBe(summary.published);
    expect(summary.interventions.stale).toBeGreaterThanOrEqual(1);
    expect(summary.interventions.nan).toBeGreaterThanOrEqual(1);
    expect(summary.interventions.resume).toBe(2);
    // Every intervention is in the log with its reason.
    const kinds = d.read().filter((e) => e.type === 'intervention').map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['stale', 'nan', 'resume']));
  });

  it('an action outside the limits is clamped and counted; Ctrl-C brakes to rest and exits 0', async () => {
    const peer = await startPeer(core.env);
    const robot = await startRobot(core.env, dir, ['--rate', '50', '--limits', LIMITS_ARG(), '--initial', '0.5,0,-0.5']);
    const d = deploy(peer.url, 'scripted:constant?value=5,-5,0&rate=50', config('clamp.json'));
    await d.waitEvent(isState('running'));
    await sleep(2500); // long enough to reach the limits: 1 rad at <= 1 rad/s
    d.proc.child.kill('SIGINT');
    expect(await d.proc.exited, d.proc.stderr()).toBe(0);
    const log = await robot.finish();
    const summary = JSON.parse(d.proc.stdout());
    expect(summary.reason).toBe('interrupted');
    expect(log.checks.count).toBe(summary.published);
    expect(log.checks.violation_count, JSON.stringify(log.checks.violations.slice(0, 5))).toBe(0);
    // At the limits, not beyond; joint 3 went to 0 as asked.
    expect(log.final_position[0]).toBeCloseTo(1, 6);
    expect(log.final_position[1]).toBeCloseTo(-1, 6);
    expect(log.final_position[2]).toBeCloseTo(0, 6);
    expect(Math.max(...log.commands.flatMap((m) => m.values.map(Math.abs)))).toBeLessThanOrEqual(1);
    expect(summary.clamps).toBeGreaterThan(100);
    expect(summary.interventions.position).toBeGreaterThan(50);
    expect(summary.interventions.velocity).toBeGreaterThan(0);
    const clampEvents = d.read().filter((e) => e.type === 'intervention' && e.kind === 'position');
    expect(new Set(clampEvents.map((e) => e.joint))).toEqual(new Set(['j1', 'j2']));
    // Ctrl-C: at rest at the end (the last braking step repeats the position).
    const n = log.commands.length;
    expect(log.commands[n - 1].values).toEqual(log.commands[n - 2].values);
  });

  it('the e-stop topic stops at once and for good (exit status 3)', async () => {
    const peer = await startPeer(core.env);
    const robot = await startRobot(core.env, dir, ['--rate', '50', '--limits', LIMITS_ARG(), '--estop-topic', '/estop']);
    const d = deploy(peer.url, 'scripted:sine?amp=0.3&period=2&rate=50', config('estop.json', { safety: { estopTopic: '/estop' } }));
    await d.waitEvent(isState('running'));
    await sleep(1000);
    const estopWall = (await robot.send('estop')) * 1000;
    const code = await d.proc.exited;
    const exitWall = Date.now();
    expect(code, d.proc.stderr()).toBe(3);
    await sleep(300);
    const log = await robot.finish();
    const [estopped] = await d.waitEvent(isState('estopped'));
    expect(estopped.wall - estopWall).toBeLessThan(250); // through the bridge, handled on arrival (not at the next tick)
    expect(exitWall - estopWall).toBeLessThan(3000);
    // The last command holds the last position; nothing after it.
    const n = log.commands.length;
    expect(log.commands[n - 1].values).toEqual(log.commands[n - 2].values);
    // nothing made after the e-stop but the hold command, stamped at the next tick
    expect(log.commands.filter((m) => m.stamp! * 1000 > estopped.wall + 25)).toEqual([]);
    expect(JSON.parse(d.proc.stdout()).interventions.estop).toBe(1);
  });

  it('fails clearly when no bridge listens', async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [CLI, 'deploy', 'scripted:hold', '--ros', `ws://127.0.0.1:${port}`, '--config', config('none.json'), '--connect-timeout', '2000'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot connect to rosbridge at ws://127.0.0.1:${port}: .*(ECONNREFUSED|closed)`));
  });
});
