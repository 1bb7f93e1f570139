/**
 * Franka Emika Panda kinematics: forward kinematics of every link, the
 * end-effector (flange) position and the geometric Jacobian, from the
 * modified (Craig) Denavit–Hartenberg parameters Franka publishes, plus the
 * joint limits Franka documents for the Panda (FER).
 *
 * Browser-safe: no imports at all, so the Three.js scene can use it too.
 *
 * Modified DH: the transform from frame i-1 to frame i is
 *   T_i = RotX(alpha_i) · TransX(a_i) · RotZ(q_i) · TransZ(d_i)
 *       = [[ cq,       -sq,       0,    a      ],
 *          [ sq·ca,     cq·ca,   -sa,  -d·sa   ],
 *          [ sq·sa,     cq·sa,    ca,   d·ca   ],
 *          [ 0,         0,        0,    1      ]]
 * (a, alpha taken from the same table row as q_i and d_i, as Franka's table
 * lists them), and the flange is one more fixed row (d = 0.107, q = 0).
 * Joint i turns about the z axis of frame i, through the origin of frame i.
 *
 * Units: metres and radians; the base frame has z up, x forward.
 * Matrices are 4x4 in a Float64Array(16), COLUMN-major (the layout of
 * Three.js `Matrix4.elements`, so `matrix.fromArray(t)` takes them as is).
 */

/** One row of the modified DH table. */
export interface DhRow {
  a: number;
  d: number;
  alpha: number;
}

const HALF_PI = Math.PI / 2;

/** Franka's modified DH table for joints 1..7 (metres, radians). */
export const PANDA_DH: readonly DhRow[] = [
  { a: 0, d: 0.333, alpha: 0 },
  { a: 0, d: 0, alpha: -HALF_PI },
  { a: 0, d: 0.316, alpha: HALF_PI },
  { a: 0.0825, d: 0, alpha: HALF_PI },
  { a: -0.0825, d: 0.384, alpha: -HALF_PI },
  { a: 0, d: 0, alpha: HALF_PI },
  { a: 0.088, d: 0, alpha: HALF_PI },
];

/** The flange row of Franka's table: a fixed offset of 0.107 m along z of frame 7. */
export const PANDA_FLANGE: DhRow = { a: 0, d: 0.107, alpha: 0 };

/** Distance from the flange to the Franka Hand's TCP (between the fingertips), along the flange z. */
export const PANDA_HAND_TCP_OFFSET = 0.1034;

export const PANDA_DOF = 7;

/**
 * Joint limits of the Panda (FER) as Franka documents them ("Limits for
 * Panda"): position [rad], velocity [rad/s], acceleration [rad/s^2],
 * jerk [rad/s^3]. The simulator enforces position, velocity and
 * acceleration; jerk is listed for completeness (the ROS bridge may use it).
 */
export const PANDA_LIMITS = {
  qMin: [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973],
  qMax: [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973],
  dqMax: [2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61],
  ddqMax: [15, 7.5, 10, 12.5, 15, 20, 20],
  dddqMax: [7500, 3750, 5000, 6250, 7500, 10000, 10000],
} as const;

/** Franka's "ready" pose (franka_ros `move_to_start`): q = [0, -pi/4, 0, -3pi/4, 0, pi/2, pi/4]. */
export const PANDA_READY_POSE: readonly number[] = [0, -Math.PI / 4, 0, (-3 * Math.PI) / 4, 0, Math.PI / 2, Math.PI / 4];

/** out = a · b for column-major 4x4 matrices (out may not alias a or b). */
function multiply(a: Float64Array, b: Float64Array, out: Float64Array): Float64Array {
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      out[c * 4 + r] = a[r] * b[c * 4] + a[4 + r] * b[c * 4 + 1] + a[8 + r] * b[c * 4 + 2] + a[12 + r] * b[c * 4 + 3];
    }
  }
  return out;
}

/** The modified-DH transform of one row at joint angle q (formula in the module comment). */
export function dhTransform(row: DhRow, q: number, out = new Float64Array(16)): Float64Array {
  const cq = Math.cos(q);
  const sq = Math.sin(q);
  const ca = Math.cos(row.alpha);
  const sa = Math.sin(row.alpha);
  // column 0
  out[0] = cq;
  out[1] = sq * ca;
  out[2] = sq * sa;
  out[3] = 0;
  // column 1
  out[4] = -sq;
  out[5] = cq * ca;
  out[6] = cq * sa;
  out[7] = 0;
  // column 2
  out[8] = 0;
  out[9] = -sa;
  out[10] = ca;
  out[11] = 0;
  // column 3
  out[12] = row.a;
  out[13] = -row.d * sa;
  out[14] = row.d * ca;
  out[15] = 1;
  return out;
}

function checkJoints(q: ArrayLike<number>): void {
  if (q.length < PANDA_DOF) throw new RangeError(`Panda kinematics needs ${PANDA_DOF} joint angles, got ${q.length}`);
}

/**
 * World transforms of frames 1..7 and of the flange (8 matrices):
 * T_0^k = T_1 · T_2 ··· T_k. Frame k is the frame joint k turns in; the
 * base frame 0 is the identity and is not listed.
 */
export function linkTransforms(q: ArrayLike<number>): Float64Array[] {
  checkJoints(q);
  const out: Float64Array[] = [];
  const local = new Float64Array(16);
  let world = dhTransform(PANDA_DH[0], q[0]);
  out.push(world);
  for (let i = 1; i <= PANDA_DOF; i++) {
    const row = i < PANDA_DOF ? PANDA_DH[i] : PANDA_FLANGE;
    dhTransform(row, i < PANDA_DOF ? q[i] : 0, local);
    world = multiply(world, local, new Float64Array(16));
    out.push(world);
  }
  return out;
}

/**
 * Position of the end effector: the flange origin, or a point `tcpOffset`
 * metres further along the flange z axis (PANDA_HAND_TCP_OFFSET for the
 * Franka Hand's fingertip centre).
 */
export function endEffectorPosition(q: ArrayLike<number>, tcpOffset = 0): [number, number, number] {
  const flange = linkTransforms(q)[PANDA_DOF];
  return [flange[12] + tcpOffset * flange[8], flange[13] + tcpOffset * flange[9], flange[14] + tcpOffset * flange[10]];
}

/**
 * Geometric Jacobian of the end effector (flange origin + tcpOffset along
 * its z), 6 x 7 row-major: rows 0-2 linear velocity, rows 3-5 angular
 * velocity, in the base frame. For revolute joint i with axis z_i through
 * p_i (both from T_0^i):
 *   J_v[:, i] = z_i × (p_ee - p_i),   J_w[:, i] = z_i.
 */
export function jacobian(q: ArrayLike<number>, tcpOffset = 0): Float64Array {
  const frames = linkTransforms(q);
  const flange = frames[PANDA_DOF];
  const px = flange[12] + tcpOffset * flange[8];
  const py = flange[13] + tcpOffset * flange[9];
  const pz = flange[14] + tcpOffset * flange[10];
  const j = new Float64Array(6 * PANDA_DOF);
  for (let i = 0; i < PANDA_DOF; i++) {
    const t = frames[i];
    const zx = t[8];
    const zy = t[9];
    const zz = t[10];
    const rx = px - t[12];
    const ry = py - t[13];
    const rz = pz - t[14];
    j[0 * PANDA_DOF + i] = zy * rz - zz * ry;
    j[1 * PANDA_DOF + i] = zz * rx - zx * rz;
    j[2 * PANDA_DOF + i] = zx * ry - zy * rx;
    j[3 * PANDA_DOF + i] = zx;
    j[4 * PANDA_DOF + i] = zy;
    j[5 * PANDA_DOF + i] = zz;
  }
  return j;
}
