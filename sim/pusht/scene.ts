/**
 * Push-T drawn with Three.js, as Diffusion Policy's pygame renderer draws it
 * (pusht_env.py `_render_frame` + pymunk_override.py `DrawOptions`), so our
 * image observations look like the ones its image policies were trained on:
 *
 * - white background; screen y = pymunk y (y points down, no flip);
 * - the goal T filled LightGreen at GOAL_POSE, under everything;
 * - the block: each box filled with `light_color(LightSlateGray)` (1.2 x,
 *   truncated to bytes) then outlined by fat segments of radius 2 in
 *   LightSlateGray, bar first, then stem (so the seam between them shows);
 * - the agent: a RoyalBlue disc of radius 15 with a light disc of radius 11;
 * - the walls: fat segments of radius 2 in LightGray.
 *
 * The camera is orthographic over the 512 x 512 workspace, so pixel
 * (px, py) of a W x H image covers world [px, px+1] * 512 / W (likewise y).
 * Colours are flat (MeshBasicMaterial, no lights), so a flat region renders
 * to exactly its byte triple. This module runs in a browser page (headless
 * Chromium in Node, or the viewer): it imports only `three` and geometry.
 */

import {
  BufferGeometry,
  Color,
  DoubleSide,
  Float32BufferAttribute,
  Group,
  Mesh,
  MeshBasicMaterial,
  type Object3D,
  OrthographicCamera,
  Scene,
} from 'three';
import type { TaskScene } from '../scene.js';
import { GOAL_POSE } from './coverage.js';
import { TEE_BOXES, type Vec2 } from './tee.js';

/** Side of the square workspace in pixels (the original's `window_size`). */
export const WORKSPACE = 512;
export const AGENT_RADIUS = 15;
/** pygame draws the agent's light inner disc at radius - 4. */
const AGENT_INNER_RADIUS = AGENT_RADIUS - 4;
/** Fat-segment radius of the block outline (DrawOptions forces 2) and of the walls. */
const OUTLINE_RADIUS = 2;
const WALL_CORNERS: readonly Vec2[] = [
  [5, 5],
  [506, 5],
  [506, 506],
  [5, 506],
];

type Rgb = readonly [number, number, number];

/** pymunk_override's `light_color`: 1.2 x each channel in float32, capped at 255, truncated by `as_int`. */
function lighten(c: Rgb): Rgb {
  const f = Math.fround(1.2);
  return c.map((v) => Math.trunc(Math.min(Math.fround(f * v), 255))) as unknown as Rgb;
}

const LIGHT_SLATE_GRAY: Rgb = [119, 136, 153];
const ROYAL_BLUE: Rgb = [65, 105, 225];

/** Every colour the scene draws, as bytes (tests and image checks use these). */
export const PUSHT_COLORS = {
  background: [255, 255, 255] as Rgb,
  goal: [144, 238, 144] as Rgb, // LightGreen
  wall: [211, 211, 211] as Rgb, // LightGray
  blockOutline: LIGHT_SLATE_GRAY,
  blockFill: lighten(LIGHT_SLATE_GRAY), // (142, 163, 183)
  agent: ROYAL_BLUE,
  agentInner: lighten(ROYAL_BLUE), // (78, 126, 255)
} as const;

/** Paint order (pygame draws in order; we disable depth and sort by renderOrder). */
const LAYER = { goal: 0, barFill: 1, barOutline: 2, stemFill: 3, stemOutline: 4, agent: 5, agentInner: 6, walls: 7 };

/** Triangles of a convex polygon (fan from its first vertex). */
function convexTriangles(poly: readonly Vec2[], out: number[]): void {
  for (let i = 1; i + 1 < poly.length; i++) out.push(...poly[0], 0, ...poly[i], 0, ...poly[i + 1], 0);
}

/** Triangles of a disc (a fan fine enough that no edge strays a tenth of a pixel at 512 px). */
function discTriangles(cx: number, cy: number, r: number, out: number[]): void {
  const n = Math.max(16, Math.ceil(Math.PI / Math.acos(Math.max(0, 1 - 0.1 / r))));
  for (let i = 0; i < n; i++) {
    const a0 = (2 * Math.PI * i) / n;
    const a1 = (2 * Math.PI * (i + 1)) / n;
    out.push(cx, cy, 0, cx + r * Math.cos(a0), cy + r * Math.sin(a0), 0, cx + r * Math.cos(a1), cy + r * Math.sin(a1), 0);
  }
}

/** Triangles of a fat segment: the band of half-width r around a-b plus round caps (pygame's draw_fat_segment). */
function capsuleTriangles(a: Vec2, b: Vec2, r: number, out: number[]): void {
  const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
  if (len > 0) {
    const nx = (-(b[1] - a[1]) / len) * r;
    const ny = ((b[0] - a[0]) / len) * r;
    convexTriangles(
      [
        [a[0] + nx, a[1] + ny],
        [b[0] + nx, b[1] + ny],
        [b[0] - nx, b[1] - ny],
        [a[0] - nx, a[1] - ny],
      ],
      out,
    );
  }
  discTriangles(a[0], a[1], r, out);
  discTriangles(b[0], b[1], r, out);
}

function outlineTriangles(poly: readonly Vec2[], r: number, out: number[]): void {
  for (let i = 0; i < poly.length; i++) capsuleTriangles(poly[i], poly[(i + 1) % poly.length], r, out);
}

/** One flat-coloured mesh from a triangle list, drawn in paint order with no depth test. */
function flatMesh(positions: number[], rgb: Rgb, order: number): Mesh {
  const geometry = new BufferGeometry();
  geometry.setAttribute('position', new Float32BufferAttribute(positions, 3));
  const material = new MeshBasicMaterial({
    color: new Color(`rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`),
    side: DoubleSide, // the y-down camera mirrors the winding
    depthTest: false,
    depthWrite: false,
  });
  const mesh = new Mesh(geometry, material);
  mesh.renderOrder = order;
  mesh.frustumCulled = false;
  return mesh;
}

function build(fn: (out: number[]) => void): number[] {
  const out: number[] = [];
  fn(out);
  return out;
}

export function createScene(): TaskScene {
  const scene = new Scene();
  scene.background = new Color(`rgb(${PUSHT_COLORS.background.join(', ')})`);

  // top = 0, bottom = 512: world y grows downwards on screen, as in pygame.
  const camera = new OrthographicCamera(0, WORKSPACE, 0, WORKSPACE, 0.1, 100);
  camera.position.set(0, 0, 10);
  camera.updateProjectionMatrix();

  const [bar, stem] = TEE_BOXES;
  const goal = new Group();
  goal.add(flatMesh(build((o) => TEE_BOXES.forEach((box) => convexTriangles(box, o))), PUSHT_COLORS.goal, LAYER.goal));
  goal.position.set(GOAL_POSE[0], GOAL_POSE[1], 0);
  goal.rotation.z = GOAL_POSE[2];

  const block = new Group();
  block.add(
    flatMesh(build((o) => convexTriangles(bar, o)), PUSHT_COLORS.blockFill, LAYER.barFill),
    flatMesh(build((o) => outlineTriangles(bar, OUTLINE_RADIUS, o)), PUSHT_COLORS.blockOutline, LAYER.barOutline),
    flatMesh(build((o) => convexTriangles(stem, o)), PUSHT_COLORS.blockFill, LAYER.stemFill),
    flatMesh(build((o) => outlineTriangles(stem, OUTLINE_RADIUS, o)), PUSHT_COLORS.blockOutline, LAYER.stemOutline),
  );

  const agent = new Group();
  agent.add(
    flatMesh(build((o) => discTriangles(0, 0, AGENT_RADIUS, o)), PUSHT_COLORS.agent, LAYER.agent),
    flatMesh(build((o) => discTriangles(0, 0, AGENT_INNER_RADIUS, o)), PUSHT_COLORS.agentInner, LAYER.agentInner),
  );

  const walls = flatMesh(
    build((o) => WALL_CORNERS.forEach((c, i) => capsuleTriangles(c, WALL_CORNERS[(i + 1) % WALL_CORNERS.length], OUTLINE_RADIUS, o))),
    PUSHT_COLORS.wall,
    LAYER.walls,
  );

  scene.add(goal, block, agent, walls);

  return {
    scene,
    camera,
    update(state: ArrayLike<number>): void {
      if (state.length < 5) throw new Error(`Push-T state has 5 entries (agent x, agent y, block x, block y, block angle), got ${state.length}`);
      agent.position.set(state[0], state[1], 0);
      block.position.set(state[2], state[3], 0);
      block.rotation.z = state[4];
    },
    dispose(): void {
      scene.traverse((obj: Object3D) => {
        if (obj instanceof Mesh) {
          obj.geometry.dispose();
          (obj.material as MeshBasicMaterial).dispose();
        }
      });
    },
  };
}
