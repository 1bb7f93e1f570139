/**
 * The viewer page's module (browser): draws the states the server sends
 * with the task's own Three.js scene (the same module the Node renderer
 * uses) and forwards the controls and the pointer to the server.
 *
 * `globalThis.flowpolicyViewer` exposes the last state message and a frame
 * counter, for tests and for poking at the page from the console.
 */

import { PerspectiveCamera, WebGLRenderer } from 'three';
import type { TaskScene } from '../scene.js';
import { loadScene } from '../render/scenes.js';
import type { ClientMessage, HelloMessage, ServerMessage, StateMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('view');
const status = $<HTMLDivElement>('status');
const message = $<HTMLDivElement>('message');
const seedInput = $<HTMLInputElement>('seed');
const record = $<HTMLInputElement>('record');
const save = $<HTMLButtonElement>('save');
const teleopRadio = $<HTMLInputElement>('mode-teleop');
const policyRadio = $<HTMLInputElement>('mode-policy');

const viewer = { hello: null as HelloMessage | null, state: null as StateMessage | null, frames: 0 };
(globalThis as unknown as { flowpolicyViewer: typeof viewer }).flowpolicyViewer = viewer;

// preserveDrawingBuffer: the canvas can be read back (screenshots, tests).
const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(canvas.width, canvas.height, false);
let scene: TaskScene | null = null;

const socket = new WebSocket(`ws://${location.host}/ws`);
const send = (msg: ClientMessage) => {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
};

function draw(): void {
  if (!scene || !viewer.state) return;
  scene.update(viewer.state.state);
  if (scene.camera instanceof PerspectiveCamera && scene.camera.aspect !== canvas.width / canvas.height) {
    scene.camera.aspect = canvas.width / canvas.height;
    scene.camera.updateProjectionMatrix();
  }
  renderer.render(scene.scene, scene.camera);
  viewer.frames++;
}

function showState(s: StateMessage): void {
  const flags = [s.success ? 'SUCCESS' : '', s.done ? 'done' : '', s.teleopActive ? 'teleop engaged' : '', s.recording ? `recording (${s.recordingFrames} frames)` : '']
    .filter(Boolean)
    .join(', ');
  status.textContent =
    `seed ${s.seed}  step ${s.step}  coverage ${s.coverage.toFixed(3)}  reward ${s.reward.toFixed(3)}  mode ${s.mode}\n` +
    `state [${s.state.map((v) => v.toFixed(1)).join(', ')}]  episodes kept ${s.recordedEpisodes}${flags ? `  ${flags}` : ''}`;
  record.checked = s.recording;
  (s.mode === 'policy' ? policyRadio : teleopRadio).checked = true;
}

socket.addEventListener('message', async (event) => {
  const msg = JSON.parse(String(event.data)) as ServerMessage;
  if (msg.type === 'hello') {
    viewer.hello = msg;
    policyRadio.disabled = !msg.hasPolicy;
    record.disabled = !msg.canTeleop;
    save.disabled = !msg.canSave;
    scene = await loadScene(msg.task);
    draw();
  } else if (msg.type === 'state') {
    if (!viewer.state) seedInput.value = String(msg.seed); // the server's starting seed (--seed)
    viewer.state = msg;
    showState(msg);
    draw();
  } else if (msg.type === 'saved') {
    message.textContent = msg.message;
  } else if (msg.type === 'error') {
    message.textContent = msg.message;
  }
});
socket.addEventListener('close', () => (status.textContent = 'disconnected from the viewer server'));

$('reset').addEventListener('click', () => {
  const seed = Number(seedInput.value);
  if (!Number.isInteger(seed) || seed < 0) {
    message.textContent = `seed must be a non-negative integer, got ${seedInput.value}`;
    return;
  }
  message.textContent = '';
  send({ type: 'reset', seed });
});
for (const radio of [teleopRadio, policyRadio]) radio.addEventListener('change', () => radio.checked && send({ type: 'mode', mode: radio.value as 'teleop' | 'policy' }));
record.addEventListener('change', () => send({ type: 'record', on: record.checked }));
save.addEventListener('click', () => send({ type: 'save' }));

let down = false;
function pointer(event: PointerEvent): void {
  // Relative to the drawing area (inside the border), as fractions of it.
  const rect = canvas.getBoundingClientRect();
  const u = (event.clientX - rect.left - canvas.clientLeft) / canvas.clientWidth;
  const v = (event.clientY - rect.top - canvas.clientTop) / canvas.clientHeight;
  send({ type: 'pointer', u, v, down });
}
canvas.addEventListener('pointerdown', (e) => {
  down = true;
  canvas.setPointerCapture(e.pointerId);
  pointer(e);
});
canvas.addEventListener('pointermove', pointer);
canvas.addEventListener('pointerup', (e) => {
  down = false;
  pointer(e);
});
