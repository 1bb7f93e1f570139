/**
 * Three.js scene of `arm-reach`: the Panda drawn as simple shapes placed by
 * the forward-kinematics link transforms, the target as a sphere the size
 * of the success radius, a ground grid and a perspective camera.
 *
 * Browser-safe: imports only `three` and the (import-free) kinematics.
 *
 * Axes: the robot's base frame is z-up; Three.js is y-up, so the whole robot
 * hangs under one root group rotated by -pi/2 about x, which maps a robot
 * point (x, y, z) to Three's (x, z, -y). Every link group has
 * `matrixAutoUpdate = false` and takes T_0^i (column-major, as
 * `Matrix4.elements`) straight from `linkTransforms`.
 */

import {
  Color,
  CylinderGeometry,
  DirectionalLight,
  GridHelper,
  Group,
  HemisphereLight,
  Mesh,
  MeshLambertMaterial,
  PerspectiveCamera,
  Quaternion,
  Scene,
  SphereGeometry,
  Vector3,
  type Material,
  type BufferGeometry,
} from 'three';
import type { TaskScene } from '../scene.js';
import { linkTransforms, PANDA_DH, PANDA_DOF, PANDA_FLANGE, PANDA_READY_POSE, type DhRow } from './panda-kinematics.js';

/** Radius of the target sphere: the task's success radius (0.02 m), so "inside the ball" reads as success. */
const TARGET_RADIUS = 0.02;
const LINK_RADIUS = 0.045;
const JOINT_RADIUS = 0.06;
const JOINT_LENGTH = 0.12;
/** The last link (frame 7 to flange) is drawn thin, so the flange tip and the target stay visible. */
const FLANGE_RADIUS = 0.025;
const UP = new Vector3(0, 1, 0);

/** The origin of the next frame in this frame's coordinates, via the elbow (a, 0, 0): TransX(a) then d along the next z. */
function nextOrigin(row: DhRow): { elbow: Vector3; end: Vector3 } {
  return { elbow: new Vector3(row.a, 0, 0), end: new Vector3(row.a, -row.d * Math.sin(row.alpha), row.d * Math.cos(row.alpha)) };
}

/** A cylinder from p to q (Three's cylinders run along y, centred on the origin). */
function segment(p: Vector3, q: Vector3, radius: number, material: Material, geometries: BufferGeometry[]): Mesh | null {
  const dir = q.clone().sub(p);
  const length = dir.length();
  if (length < 1e-6) return null;
  const geometry = new CylinderGeometry(radius, radius, length, 20);
  geometries.push(geometry);
  const mesh = new Mesh(geometry, material);
  mesh.position.copy(p).add(q).multiplyScalar(0.5);
  mesh.quaternion.copy(new Quaternion().setFromUnitVectors(UP, dir.normalize()));
  return mesh;
}

export function createScene(): TaskScene {
  const scene = new Scene();
  scene.background = new Color(0xf2f2f2);
  scene.add(new HemisphereLight(0xffffff, 0x808080, 1.6));
  const sun = new DirectionalLight(0xffffff, 1.4);
  sun.position.set(1.5, 3, 2);
  scene.add(sun);
  scene.add(new GridHelper(2, 20, 0x888888, 0xcccccc));

  const geometries: BufferGeometry[] = [];
  const linkMaterial = new MeshLambertMaterial({ color: 0xfafafa });
  const jointMaterial = new MeshLambertMaterial({ color: 0x3a3a3a });
  const effectorMaterial = new MeshLambertMaterial({ color: 0xff8c00 });
  // Drawn over everything (depthTest off): the goal stays visible even when the wrist is in front of it.
  const targetMaterial = new MeshLambertMaterial({ color: 0xd62828, transparent: true, opacity: 0.8, depthTest: false });
  const materials: Material[] = [linkMaterial, jointMaterial, effectorMaterial, targetMaterial];

  const root = new Group();
  root.rotation.x = -Math.PI / 2;
  scene.add(root);

  // Base: a pedestal up to frame 1 (fixed in the base frame).
  const base = segment(new Vector3(0, 0, 0), new Vector3(0, 0, PANDA_DH[0].d), 0.07, linkMaterial, geometries);
  if (base) root.add(base);

  // Frames 1..7 and the flange; frame i draws its joint housing and the link to frame i+1.
  const frames: Group[] = [];
  const jointGeometry = new CylinderGeometry(JOINT_RADIUS, JOINT_RADIUS, JOINT_LENGTH, 24);
  geometries.push(jointGeometry);
  for (let i = 0; i <= PANDA_DOF; i++) {
    const frame = new Group();
    frame.matrixAutoUpdate = false;
    if (i < PANDA_DOF) {
      const housing = new Mesh(jointGeometry, jointMaterial);
      housing.rotation.x = Math.PI / 2; // cylinder axis (y) onto the joint axis (z)
      frame.add(housing);
      const { elbow, end } = nextOrigin(i + 1 < PANDA_DOF ? PANDA_DH[i + 1] : PANDA_FLANGE);
      const radius = i + 1 < PANDA_DOF ? LINK_RADIUS : FLANGE_RADIUS;
      for (const part of [segment(new Vector3(), elbow, radius, linkMaterial, geometries), segment(elbow, end, radius, linkMaterial, geometries)]) {
        if (part) frame.add(part);
      }
    } else {
      const tip = new SphereGeometry(0.015, 20, 12);
      geometries.push(tip);
      frame.add(new Mesh(tip, effectorMaterial));
    }
    root.add(frame);
    frames.push(frame);
  }

  const targetGeometry = new SphereGeometry(TARGET_RADIUS, 24, 16);
  geometries.push(targetGeometry);
  const target = new Mesh(targetGeometry, targetMaterial);
  target.renderOrder = 1;
  root.add(target);

  const camera = new PerspectiveCamera(40, 1, 0.05, 20);
  camera.position.set(1.35, 0.85, 1.05); // robot frame (1.35, -1.05, 0.85)
  camera.lookAt(0.25, 0.4, 0); // robot frame (0.25, 0, 0.4)

  function update(state: ArrayLike<number>): void {
    if (state.length < 2 * PANDA_DOF + 3) throw new RangeError(`arm-reach scene: state needs ${2 * PANDA_DOF + 3} values, got ${state.length}`);
    const transforms = linkTransforms(state);
    for (let i = 0; i < frames.length; i++) {
      frames[i].matrix.fromArray(transforms[i]);
      frames[i].matrixWorldNeedsUpdate = true;
    }
    target.position.set(state[2 * PANDA_DOF], state[2 * PANDA_DOF + 1], state[2 * PANDA_DOF + 2]);
  }

  update([...PANDA_READY_POSE, ...new Array(PANDA_DOF).fill(0), 0.45, 0, 0.4]);

  return {
    scene,
    camera,
    update,
    dispose(): void {
      for (const g of geometries) g.dispose();
      for (const m of materials) m.dispose();
      scene.traverse((o) => {
        if (o instanceof GridHelper) {
          o.geometry.dispose();
          (o.material as Material).dispose();
        }
      });
    },
  };
}
