/**
 * Messages between the viewer page and the viewer server (JSON over one
 * WebSocket). Browser-safe: the page imports the types, the server both.
 *
 * The server owns the simulation; the page only draws the states it is sent
 * and forwards the user's input. Pointer positions travel as fractions of
 * the canvas (u right, v down, both in [0, 1]); the server maps them to the
 * task's action (Push-T: the absolute agent target u * 512, v * 512).
 */

export type ViewerMode = 'teleop' | 'policy';

export type ClientMessage =
  | { type: 'reset'; seed: number }
  | { type: 'mode'; mode: ViewerMode }
  /** Pointer over the canvas; `down` while a button is held (a drag always steers the agent). */
  | { type: 'pointer'; u: number; v: number; down: boolean }
  | { type: 'record'; on: boolean }
  | { type: 'save' };

export interface HelloMessage {
  type: 'hello';
  task: string;
  controlHz: number;
  stateNames: readonly string[];
  hasPolicy: boolean;
  /** The task maps pointer positions to actions. */
  canTeleop: boolean;
  /** A save callback is installed (e.g. `flowpolicy view --record <dir>`). */
  canSave: boolean;
}

export interface StateMessage {
  type: 'state';
  state: number[];
  seed: number;
  step: number;
  coverage: number;
  reward: number;
  success: boolean;
  done: boolean;
  mode: ViewerMode;
  /** Teleoperation is steering the agent (engaged by a drag, or by the pointer coming within reach of the agent). */
  teleopActive: boolean;
  recording: boolean;
  /** Episodes kept in memory, not yet saved (the one in progress excluded). */
  recordedEpisodes: number;
  /** Frames of the episode being recorded. */
  recordingFrames: number;
}

export type ServerMessage =
  | HelloMessage
  | StateMessage
  | { type: 'saved'; episodes: number; message: string }
  | { type: 'error'; message: string };
