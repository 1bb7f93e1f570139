/**
 * The render page's module (runs inside headless Chromium, loaded from
 * dist/ by the Node renderer): one WebGLRenderer, the task scenes, and a
 * global `flowpolicyRender` the renderer calls through `page.evaluate`.
 *
 * Frames come back as one base64 string of concatenated top-left-first RGB
 * frames: a string crosses the DevTools protocol far faster than an array
 * of numbers.
 */

import { PerspectiveCamera, WebGLRenderer } from 'three';
import type { TaskScene } from '../scene.js';
import { resizeBilinear } from './resample.js';
import { loadScene, SCENES } from './scenes.js';

const renderer = new WebGLRenderer({ antialias: false, preserveDrawingBuffer: true, alpha: false });
renderer.setPixelRatio(1);
const scenes = new Map<string, Promise<TaskScene>>();

function sceneOf(task: string): Promise<TaskScene> {
  let scene = scenes.get(task);
  if (!scene) {
    scene = loadScene(task);
    scenes.set(task, scene);
    scene.catch(() => scenes.delete(task));
  }
  return scene;
}

/** Draw one state at width x height and read it back as top-left-first RGB. */
function drawRgb(task: TaskScene, state: ArrayLike<number>, width: number, height: number): Uint8Array {
  const canvas = renderer.domElement;
  if (canvas.width !== width || canvas.height !== height) renderer.setSize(width, height, false);
  task.update(state);
  // A perspective camera takes the image's aspect; an orthographic one keeps its world window.
  if (task.camera instanceof PerspectiveCamera && task.camera.aspect !== width / height) {
    task.camera.aspect = width / height;
    task.camera.updateProjectionMatrix();
  }
  renderer.setRenderTarget(null);
  renderer.render(task.scene, task.camera);
  const gl = renderer.getContext();
  const rgba = new Uint8Array(width * height * 4);
  gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  // GL rows run bottom-up.
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = (height - 1 - y) * width * 4;
    const to = y * width * 3;
    for (let x = 0; x < width; x++) {
      rgb[to + x * 3] = rgba[from + x * 4];
      rgb[to + x * 3 + 1] = rgba[from + x * 4 + 1];
      rgb[to + x * 3 + 2] = rgba[from + x * 4 + 2];
    }
  }
  return rgb;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) binary += String.fromCharCode(...bytes.subarray(i, i + step));
  return btoa(binary);
}

async function render(task: string, states: number[][], width: number, height: number): Promise<string> {
  const scene = await sceneOf(task);
  const native = SCENES[task]?.nativeSize;
  const frameBytes = width * height * 3;
  const out = new Uint8Array(frameBytes * states.length);
  states.forEach((state, i) => {
    const frame =
      native && (native.width !== width || native.height !== height)
        ? resizeBilinear(drawRgb(scene, state, native.width, native.height), native.width, native.height, width, height)
        : drawRgb(scene, state, width, height);
    out.set(frame, i * frameBytes);
  });
  return toBase64(out);
}

(globalThis as unknown as { flowpolicyRender: typeof render }).flowpolicyRender = render;
