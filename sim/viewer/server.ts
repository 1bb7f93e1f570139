/**
 * `flowpolicy view`: a local web page to watch and drive a simulated task.
 * The env runs here, in Node, at the task's control rate; the page (plain
 * HTML + ES modules, no bundler) draws the states it is sent with the
 * task's Three.js scene and sends back the user's input over a WebSocket.
 * Bound to 127.0.0.1 only: the page can reset and drive the simulator and
 * trigger saves, so it is not for the network.
 */

import type { Policy } from '../../src/policy/policy.js';
import type { Env } from '../env.js';
import '../tasks.js'; // registers the built-in tasks
import { createEnv } from '../registry.js';
import { requireBuilt } from '../render/paths.js';
import { defaultMounts, startStaticServer } from '../render/static-server.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { viewerHtml } from './page-html.js';
import type { ClientMessage, HelloMessage, ServerMessage } from './protocol.js';
import type { TeleopEpisode } from './recorder.js';
import { ViewerSession } from './session.js';

/** What a save callback learns about the episodes, to write them as a dataset. */
export interface RecordingInfo {
  task: string;
  /** Frames per second (the control rate). */
  fps: number;
  /** Per-frame shape and entry names of each recorded feature (observations and `action`). */
  features: Record<string, { shape: number[]; names?: string[] }>;
}

export interface ViewerOptions {
  task: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** Enables the Policy mode. */
  policy?: Policy;
  /** Persist recorded episodes (Save button); resolves to a line shown on the page. */
  onSave?: (episodes: TeleopEpisode[], info: RecordingInfo) => Promise<string | void> | string | void;
  /** Seed of the first episode (default 0). */
  seed?: number;
  /** Drive this env instead of `createEnv(task)` (it is not closed with the viewer). */
  env?: Env;
}

export interface Viewer {
  /** http://127.0.0.1:<port>/ */
  readonly url: string;
  close(): Promise<void>;
}

function recordingInfo(env: Env): RecordingInfo {
  const features: RecordingInfo['features'] = {};
  for (const [key, spec] of Object.entries(env.observationSpec)) features[key] = { shape: spec.shape, ...(spec.names ? { names: spec.names } : {}) };
  features.action = { shape: env.actionSpec.shape, ...(env.actionSpec.names ? { names: env.actionSpec.names } : {}) };
  return { task: env.task, fps: env.controlHz, features };
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  requireBuilt('viewer/client.js');
  const env = options.env ?? (await createEnv(options.task));
  const ownsEnv = options.env === undefined;
  let session: ViewerSession;
  try {
    if (env.task !== options.task) throw new Error(`the env given is task '${env.task}', not '${options.task}'`);
    session = new ViewerSession(env, options.policy, options.seed ?? 0);
  } catch (err) {
    if (ownsEnv) env.close();
    throw err;
  }

  const http = await startStaticServer({ pages: { '/': viewerHtml(options.task) }, mounts: defaultMounts(), port: options.port }).catch((err) => {
    if (ownsEnv) env.close();
    throw (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? new Error(`port ${options.port} is in use: pick another with --port (0 picks a free one)`) : err;
  });
  const wss = new WebSocketServer({ server: http.server, path: '/ws' });
  const hello: HelloMessage = {
    type: 'hello',
    task: options.task,
    controlHz: env.controlHz,
    stateNames: env.stateNames,
    hasPolicy: options.policy !== undefined,
    canTeleop: session.canTeleop,
    canSave: options.onSave !== undefined,
  };

  const sendTo = (ws: WebSocket, msg: ServerMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));
  const broadcast = (msg: ServerMessage) => wss.clients.forEach((ws) => sendTo(ws, msg));
  const fail = (ws: WebSocket, err: unknown) => sendTo(ws, { type: 'error', message: (err as Error)?.message ?? String(err) });

  let saving = false;
  async function save(ws: WebSocket): Promise<void> {
    if (!options.onSave) return void fail(ws, 'no save destination: start the viewer with --record <dir>');
    if (saving) return void fail(ws, 'a save is already running');
    const episodes = session.recorder.take();
    if (episodes.length === 0) return void fail(ws, 'nothing to save: record an episode (Record, teleoperate, then Reset) first');
    saving = true;
    try {
      const line = await options.onSave(episodes, recordingInfo(env));
      broadcast({ type: 'saved', episodes: episodes.length, message: line || `saved ${episodes.length} episode(s)` });
    } catch (err) {
      session.recorder.restore(episodes);
      fail(ws, err);
    } finally {
      saving = false;
    }
  }

  wss.on('connection', (ws) => {
    sendTo(ws, hello);
    sendTo(ws, session.snapshot());
    ws.on('message', (data) => {
      try {
        const msg = JSON.parse(String(data)) as ClientMessage;
        if (msg?.type === 'save') return void save(ws);
        session.handle(msg);
        if (msg.type !== 'pointer') broadcast(session.snapshot());
      } catch (err) {
        fail(ws, err);
      }
    });
  });

  // A fixed control clock, as the original's demo loop: one env step per tick.
  const timer = setInterval(() => {
    try {
      session.tick();
    } catch (err) {
      broadcast({ type: 'error', message: (err as Error)?.message ?? String(err) });
      session.mode = 'teleop';
    }
    broadcast(session.snapshot());
  }, 1000 / env.controlHz);

  let closed = false;
  return {
    url: `${http.url}/`,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await http.close();
      if (ownsEnv) env.close();
    },
  };
}
