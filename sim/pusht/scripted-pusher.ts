import type { ActionChunk, ObservationFrame, Policy, PolicyIO } from '../../src/policy/policy.js';
import { registerScriptedPolicy } from '../../src/policy/policy-source.js';
import { GOAL_POSE } from './coverage.js';
import { TEE_KEYPOINTS } from './keypoints.js';
import { TEE_COG, toWorld, type Pose } from './tee.js';

const STAND_OFF = 75;
const PUSH_STRIDE = 25;
const ARRIVED = 12;

/**
 * A deliberately simple Push-T expert: estimate the block pose from its
 * keypoints, go to a point behind the block's centre of gravity on the line
 * to the goal's, then push along that line. It ignores the angle, so it
 * rarely succeeds; it exists to exercise evaluation with a policy whose
 * behaviour needs no training and is the same on every machine.
 */
export class ScriptedPusher implements Policy {
  readonly config: PolicyIO & { kind: string } = {
    kind: 'scripted:pusht-pusher',
    observation: {
      features: [
        { key: 'observation.environment_state', shape: [18] },
        { key: 'observation.state', shape: [2] },
      ],
      horizon: 1,
    },
    action: { key: 'action', dim: 2, horizon: 1, execute: 1 },
  };

  reset(): void {}

  act(observation: ObservationFrame | readonly ObservationFrame[]): ActionChunk {
    const t0 = performance.now();
    const frame = Array.isArray(observation) ? observation[observation.length - 1] : (observation as ObservationFrame);
    const kp = frame['observation.environment_state'];
    const agent = frame['observation.state'];
    const pose = poseFromKeypoints(kp);
    const [cx, cy] = toWorld(pose, TEE_COG);
    const [gx, gy] = toWorld(GOAL_POSE, TEE_COG);
    const dist = Math.hypot(gx - cx, gy - cy) || 1;
    const [ux, uy] = [(gx - cx) / dist, (gy - cy) / dist];
    const [bx, by] = [cx - ux * STAND_OFF, cy - uy * STAND_OFF];
    const behind = Math.hypot(agent[0] - bx, agent[1] - by) < ARRIVED;
    const target = behind ? [agent[0] + ux * PUSH_STRIDE, agent[1] + uy * PUSH_STRIDE] : [bx, by];
    return { actions: Float32Array.from(target), horizon: 1, actionDim: 2, start: 0, execute: 1, latencyMs: performance.now() - t0, nfe: 0 };
  }

  dispose(): void {}
}

/** Block pose from its 9 keypoints: angle from the bar's end points, origin averaged over all points. */
export function poseFromKeypoints(kp: ArrayLike<number>): Pose {
  const [l1, l2] = [TEE_KEYPOINTS[1], TEE_KEYPOINTS[2]];
  const angle = Math.atan2(kp[5] - kp[3], kp[4] - kp[2]) - Math.atan2(l2[1] - l1[1], l2[0] - l1[0]);
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  let x = 0;
  let y = 0;
  TEE_KEYPOINTS.forEach(([lx, ly], k) => {
    x += kp[2 * k] - (c * lx - s * ly);
    y += kp[2 * k + 1] - (s * lx + c * ly);
  });
  return [x / TEE_KEYPOINTS.length, y / TEE_KEYPOINTS.length, angle];
}

registerScriptedPolicy({ name: 'pusht-pusher', task: 'pusht', description: 'pushes the block toward the goal, ignoring its angle', create: () => new ScriptedPusher() });
