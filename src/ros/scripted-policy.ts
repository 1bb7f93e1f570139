import { InputError } from '../core/errors.js';
import type { ActionChunk, ActOptions, ObservationFrame, Policy, PolicyIO } from '../policy/policy.js';
import { isScriptedSpec, registerScriptedPolicy } from '../policy/policy-source.js';

/**
 * Hand-written joint-space policies for testing a deployment end to end
 * without a trained checkpoint: `scripted:<kind>?key=value&...`.
 *
 *   sine      each joint follows c + amp (1 - cos(2 pi t / period)) / 2 (sign
 *             alternating by joint) around the position it was first seen
 *             at: starts at rest, smooth, speed at most amp pi / period.
 *   constant  every action is `value` (one number, or comma-separated per joint).
 *   hold      every action is the observed position.
 *   nan       like hold, but NaN from call `after` (default 0) on.
 *
 * Parameters for all: dim (action and state size; default 3), obs (the state
 * feature, default observation.state), horizon (16), execute (8), obsHorizon
 * (To, 2), rate (rows per second, 50), latency (ms each act() blocks its
 * thread, sleeping: stands for a slow network), amp (0.3), period (2 s).
 *
 * Time: `act()` may be given `timeS` (the observation's time in seconds on
 * the control clock, as the action streamer passes it); row `start + i`
 * then is the action for `timeS + i / rate` exactly, so consecutive chunks
 * agree. Without it, the wall clock since the first call is used.
 */

export const SCRIPTED_KINDS = ['sine', 'constant', 'hold', 'nan'] as const;
export type ScriptedKind = (typeof SCRIPTED_KINDS)[number];

export interface ScriptedActOptions extends ActOptions {
  /** The observation's time, seconds, on the caller's control clock. */
  timeS?: number;
}

export interface ScriptedParams {
  kind: ScriptedKind;
  dim: number;
  obs: string;
  horizon: number;
  execute: number;
  obsHorizon: number;
  rate: number;
  latencyMs: number;
  amp: number;
  period: number;
  value: number[];
  after: number;
}

const NUMERIC = ['dim', 'horizon', 'execute', 'obsHorizon', 'rate', 'latency', 'amp', 'period', 'after'] as const;

/** Parse `scripted:<kind>?k=v&...`; errors name the parameter. */
export function parseScriptedSpec(spec: string): ScriptedParams {
  if (!isScriptedSpec(spec)) throw new InputError('policy', spec, 'scripted:<kind>[?key=value&...]');
  const [kind, query = ''] = spec.slice('scripted:'.length).split('?', 2);
  if (!(SCRIPTED_KINDS as readonly string[]).includes(kind)) throw new InputError('policy', spec, `scripted:${SCRIPTED_KINDS.join(' | scripted:')}`);
  const p: ScriptedParams = { kind: kind as ScriptedKind, dim: 3, obs: 'observation.state', horizon: 16, execute: 8, obsHorizon: 2, rate: 50, latencyMs: 0, amp: 0.3, period: 2, value: [0], after: 0 };
  for (const part of query.split('&').filter(Boolean)) {
    const [key, raw = ''] = part.split('=', 2);
    const value = decodeURIComponent(raw);
    if (key === 'obs') p.obs = value;
    else if (key === 'value') {
      p.value = value.split(',').map(Number);
      if (p.value.length === 0 || p.value.some((v) => !Number.isFinite(v))) throw new InputError(`${spec}: value`, value, 'numbers, comma-separated');
    } else if ((NUMERIC as readonly string[]).includes(key)) {
      const n = Number(value);
      const integer = ['dim', 'horizon', 'execute', 'obsHorizon', 'after'].includes(key);
      if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) throw new InputError(`${spec}: ${key}`, value, integer ? 'an integer >= 0' : 'a number >= 0');
      if (key === 'latency') p.latencyMs = n;
      else (p as unknown as Record<string, number>)[key] = n;
    } else throw new InputError(`${spec}: ${key}`, value, `one of obs, value, ${NUMERIC.join(', ')}`);
  }
  if (p.dim < 1 || p.horizon < 1 || p.obsHorizon < 1) throw new InputError(spec, p, 'dim, horizon and obsHorizon >= 1');
  if (p.execute < 1 || p.execute > p.horizon - p.obsHorizon + 1) throw new InputError(`${spec}: execute`, p.execute, `1..horizon - obsHorizon + 1 (${p.horizon - p.obsHorizon + 1})`);
  if (!(p.rate > 0) || !(p.period > 0)) throw new InputError(spec, `rate ${p.rate}, period ${p.period}`, 'rate and period > 0');
  if (p.kind === 'constant' && p.value.length !== 1 && p.value.length !== p.dim) throw new InputError(`${spec}: value`, p.value, `1 or dim (${p.dim}) numbers`);
  return p;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block the calling thread for `ms` (sleeping, not spinning: it stands for a call that blocks, without using a core). */
function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

export class ScriptedPolicy implements Policy {
  readonly config: PolicyIO & { kind: string };
  private center?: Float64Array;
  private t0?: number;
  private calls = 0;
  private history: ObservationFrame[] = [];

  constructor(readonly params: ScriptedParams) {
    this.config = {
      kind: `scripted:${params.kind}`,
      observation: { features: [{ key: params.obs, shape: [params.dim] }], horizon: params.obsHorizon },
      action: { key: 'action', dim: params.dim, horizon: params.horizon, execute: params.execute },
    };
  }

  reset(): void {
    this.center = undefined;
    this.t0 = undefined;
    this.calls = 0;
    this.history = [];
  }

  act(observation: ObservationFrame | readonly ObservationFrame[], options: ScriptedActOptions = {}): ActionChunk {
    const started = performance.now();
    const p = this.params;
    let frames: readonly ObservationFrame[];
    if (Array.isArray(observation)) frames = observation as readonly ObservationFrame[];
    else {
      const frame = observation as ObservationFrame;
      if (this.history.length === 0) this.history = Array.from({ length: p.obsHorizon }, () => frame);
      else this.history = [...this.history.slice(1), frame];
      frames = this.history;
    }
    if (frames.length !== p.obsHorizon) throw new InputError('observation', frames, `${p.obsHorizon} frames`);
    const state = frames[frames.length - 1][p.obs];
    if (!state || state.length !== p.dim) throw new InputError(`observation.${p.obs}`, state, `${p.dim} values`);
    const now = options.timeS ?? started / 1000;
    if (this.t0 === undefined) this.t0 = now;
    if (!this.center) this.center = Float64Array.from(state);
    const start = p.obsHorizon - 1;
    const actions = new Float32Array(p.horizon * p.dim);
    const omega = (2 * Math.PI) / p.period;
    for (let i = 0; i < p.horizon; i++) {
      const t = now - this.t0 + (i - start) / p.rate;
      for (let j = 0; j < p.dim; j++) {
        let v: number;
        switch (p.kind) {
          case 'sine':
            v = this.center[j] + (j % 2 ? -1 : 1) * p.amp * 0.5 * (1 - Math.cos(omega * Math.max(0, t)));
            break;
          case 'constant':
            v = p.value.length === 1 ? p.value[0] : p.value[j];
            break;
          case 'hold':
            v = state[j];
            break;
          case 'nan':
            v = this.calls >= p.after ? Number.NaN : state[j];
            break;
        }
        actions[i * p.dim + j] = v;
      }
    }
    this.calls++;
    blockFor(p.latencyMs - (performance.now() - started));
    return { actions, horizon: p.horizon, actionDim: p.dim, start, execute: p.execute, latencyMs: performance.now() - started, nfe: 0 };
  }

  dispose(): void {}
}

export function createScriptedPolicy(spec: string): ScriptedPolicy {
  return new ScriptedPolicy(parseScriptedSpec(spec));
}

const DESCRIPTIONS: Record<ScriptedKind, string> = {
  sine: 'joint-space test trajectory: each joint swings smoothly around where it started',
  constant: 'joint-space test policy: every action is `value`',
  hold: 'joint-space test policy: every action is the observed position',
  nan: 'joint-space fault injection: like hold, then NaN from call `after` on',
};
for (const kind of SCRIPTED_KINDS) registerScriptedPolicy({ name: kind, description: DESCRIPTIONS[kind], parameters: true, create: createScriptedPolicy });
