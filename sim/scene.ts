/**
 * The Three.js side of a task: one scene graph per task that draws any
 * simulator state. The same module runs in Node (rendered by headless
 * Chromium for image observations and videos) and in the viewer page, so it
 * must import nothing but `three` and browser-safe task geometry.
 */

import type { Camera, Scene } from 'three';

export interface TaskScene {
  readonly scene: Scene;
  readonly camera: Camera;
  /** Move the scene graph to a simulator state (the layout of `Env.state()`). */
  update(state: ArrayLike<number>): void;
  dispose(): void;
}
