import { afterAll, beforeAll, beforeEach } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real ROS 1 peers for the ROS bridge tests, as child processes: roscore,
 * the rosbridge v2 peer (rosbridge_peer.py) and the rospy robot
 * (robot_node.py). Each test file starts its own roscore on a free port, so
 * files can run in parallel and never meet a roscore CI may have started.
 * Everything is killed by process group on teardown.
 */

export const APT_LINE =
  'apt-get install -y --no-install-recommends ros-core python3-rospy python3-rostopic python3-std-msgs python3-sensor-msgs python3-trajectory-msgs python3-geometry-msgs python3-std-srvs';
const PYTHON = '/usr/bin/python3';
const HERE = fileURLToPath(new URL('.', import.meta.url));
export const PEER_PY = join(HERE, 'rosbridge_peer.py');
export const ROBOT_PY = join(HERE, 'robot_node.py');
const WITH_PARENT_PY = join(HERE, 'with_parent.py');

/** Fail (never skip) with what to install when ROS 1 is missing. */
export function requireRos(): void {
  const missing: string[] = [];
  if (spawnSync('sh', ['-c', 'command -v roscore'], { encoding: 'utf8' }).status !== 0) missing.push('roscore (package ros-core)');
  if (!existsSync(PYTHON)) missing.push(PYTHON);
  else {
    const r = spawnSync(PYTHON, ['-c', 'import rospy, rosservice, sensor_msgs.msg, trajectory_msgs.msg, geometry_msgs.msg, std_msgs.msg, std_srvs.srv'], { encoding: 'utf8' });
    if (r.status !== 0) missing.push(`ROS Python packages (${(r.stderr || '').trim().split('\n').pop()})`);
  }
  if (missing.length) {
    throw new Error(`ROS 1 is not installed; the ROS bridge tests need a real roscore and rospy. Missing: ${missing.join('; ')}.\nInstall (Debian bookworm): ${APT_LINE}`);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  cmd: string;
  args: string[];
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM the group, SIGKILL after `graceMs`; resolves on exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Every process started by this module (one registry per test file), for stopAll(). */
const started = new Set<Proc>();

/** Stop every process this test file started that is still running (roscore last). Call in afterAll. */
export async function stopAll(): Promise<void> {
  const all = [...started];
  const isCore = (p: Proc) => p.args.includes(WITH_PARENT_PY);
  await Promise.all(all.filter((p) => !isCore(p)).map((p) => p.stop('SIGTERM', 3000)));
  await Promise.all(all.filter(isCore).map((p) => p.stop('SIGTERM', 8000)));
  started.clear();
}

export function startProc(cmd: string, args: string[], env: Record<string, string>, options: { stdin?: boolean } = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  let done = false;
  void exited.then(() => (done = true));
  const waitFor = async (pattern: RegExp, timeoutMs = 30_000) => {
    const start = Date.now();
    for (;;) {
      const m = out.match(pattern);
      if (m) return m;
      if (done) throw new Error(`${cmd} ${args.join(' ')} exited before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`);
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${pattern} from ${cmd}\nstdout:\n${out}\nstderr:\n${err}`);
      await sleep(20);
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) => {
    if (done) return exited;
    try {
      process.kill(-child.pid!, signal);
    } catch {
      /* already gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const proc: Proc = { cmd, args, child, stdout: () => out, stderr: () => err, waitFor, stop, exited };
  started.add(proc);
  void exited.then(() => started.delete(proc));
  return proc;
}

/** roscore on a free port; resolves once the master accepts connections. */
export async function startRoscore(): Promise<{ proc: Proc; env: Record<string, string>; logDir: string }> {
  const port = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'flowpolicy-ros-'));
  const env = { ROS_MASTER_URI: `http://127.0.0.1:${port}`, ROS_IP: '127.0.0.1', ROS_HOME: logDir, ROS_LOG_DIR: logDir, PYTHONUNBUFFERED: '1' };
  // Through with_parent.py: roscore (and its rosmaster and rosout) stop with the test process even if it is killed.
  const proc = startProc(PYTHON, [WITH_PARENT_PY, 'roscore', '-p', String(port)], env);
  const start = Date.now();
  while (!(await canConnect(port))) {
    if (Date.now() - start > 30_000) throw new Error(`roscore did not start on port ${port}:\n${proc.stdout()}\n${proc.stderr()}`);
    await sleep(100);
  }
  // rosout registers itself shortly after the master is up; nodes do not need it, but wait for a clean log.
  await proc.waitFor(/started core service/, 30_000).catch(() => undefined);
  return { proc, env, logDir };
}

export async function startPeer(env: Record<string, string>, port = 0, extra: string[] = []): Promise<{ proc: Proc; port: number; url: string }> {
  const proc = startProc(PYTHON, [PEER_PY, '--port', String(port), ...extra], env);
  const m = await proc.waitFor(/READY (\d+)/);
  const p = Number(m[1]);
  return { proc, port: p, url: `ws://127.0.0.1:${p}` };
}

export interface RobotLog {
  joints: string[];
  initial: number[];
  final_position: number[];
  states_published: number;
  events: { event: string; t: number; commands_before: number }[];
  checks: {
    count: number;
    in_order: boolean;
    seq_contiguous: boolean;
    violations: { i: number; joint: number; kind: string; value: number | null }[];
    violation_count: number;
    intervals: { count: number; mean: number | null; p50: number | null; p99: number | null; max: number | null };
    rate_hz?: number;
  };
  commands: { t: number; mono: number; seq?: number; stamp?: number; values: number[]; points?: number; joint_names?: string[]; time_from_start?: number }[];
}

export interface Robot {
  proc: Proc;
  /** Send a fault word (stale, fresh, nan, ok, estop, release) and wait for its ACK; returns the robot's wall time of it (s). */
  send(word: string): Promise<number>;
  /** Stop the robot and read its log. */
  finish(): Promise<RobotLog>;
  logPath: string;
}

export async function startRobot(env: Record<string, string>, dir: string, args: string[]): Promise<Robot> {
  const logPath = join(dir, `robot-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const proc = startProc(PYTHON, [ROBOT_PY, '--log', logPath, ...args], env, { stdin: true });
  await proc.waitFor(/READY/);
  let acks = 0;
  return {
    proc,
    logPath,
    async send(word: string) {
      acks++;
      const n = acks;
      proc.child.stdin!.write(`${word}\n`);
      const re = new RegExp(`ACK ${word} ([0-9.]+)`, 'g');
      const start = Date.now();
      for (;;) {
        const all = [...proc.stdout().matchAll(re)];
        const count = [...proc.stdout().matchAll(/ACK \S+/g)].length;
        if (count >= n && all.length) return Number(all[all.length - 1][1]);
        if (Date.now() - start > 10_000) throw new Error(`robot did not acknowledge ${word}:\n${proc.stdout()}\n${proc.stderr()}`);
        await sleep(5);
      }
    },
    async finish() {
      await proc.stop('SIGTERM', 10_000);
      if (!existsSync(logPath)) throw new Error(`robot wrote no log:\n${proc.stdout()}\n${proc.stderr()}`);
      return JSON.parse(readFileSync(logPath, 'utf8')) as RobotLog;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** JSON lines written by `deploy --events`. */
export function readEvents(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A robot config (robot.json) for the test robot's joints. */
export function robotConfig(overrides: Record<string, unknown> = {}, joints = ['j1', 'j2', 'j3']): Record<string, unknown> {
  return {
    rosVersion: 1,
    rate: 50,
    joints,
    state: { topic: '/joint_states' },
    observation: {
      features: { 'observation.state': [{ topic: '/joint_states', type: 'sensor_msgs/JointState', joints }] },
      maxAgeMs: 200,
    },
    command: { topic: '/arm/command', type: 'trajectory_msgs/JointTrajectory' },
    limits: Object.fromEntries(joints.map((j) => [j, { position: [-1, 1], velocity: 1, acceleration: 4 }])),
    ...overrides,
  };
}

export const LIMITS_ARG = (joints = 3) =>
  JSON.stringify({
    position: Array.from({ length: joints }, () => [-1, 1]),
    velocity: Array.from({ length: joints }, () => 1),
    acceleration: Array.from({ length: joints }, () => 4),
  });

export type Roscore = Awaited<ReturnType<typeof startRoscore>>;
export type Peer = Awaited<ReturnType<typeof startPeer>>;

/**
 * The ROS graph a test file runs against: a scratch folder, a roscore on a
 * free port and, if asked, the rosbridge peer; `setup` starts whatever else
 * the file needs. A missing ROS or a process that cannot start fails every
 * test of the file with the reason (never a silent skip); every process the
 * file started is stopped afterwards, a failed test's included.
 */
export function rosSuite(
  prefix: string,
  options: { peer?: boolean; setup?: (s: { core: Roscore; dir: string }) => Promise<void>; teardown?: () => void; ready: (s: { core: Roscore; peer: Peer; dir: string }) => void },
): void {
  let setupError: unknown;
  let core: Roscore | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    try {
      requireRos();
      dir = mkdtempSync(join(tmpdir(), prefix));
      core = await startRoscore();
      const peer = options.peer ? await startPeer(core.env) : (undefined as unknown as Peer);
      options.ready({ core, peer, dir });
      await options.setup?.({ core, dir });
    } catch (err) {
      setupError = err;
    }
  }, 60_000);
  beforeEach(() => {
    if (setupError) throw setupError;
  });
  afterAll(async () => {
    options.teardown?.();
    await stopAll();
    if (core) removeDir(core.logDir);
    if (dir) removeDir(dir);
  });
}
