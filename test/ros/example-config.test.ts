import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRobotConfig } from '../../src/ros/ros-config.js';
import { PANDA_LIMITS } from '../../sim/arm/panda-kinematics.js';
import { createEnv } from '../../sim/index.js';

describe('examples/panda-robot.json', () => {
  it('is a valid robot config for the arm-reach policies, within the Panda limits the simulator enforces', async () => {
    const path = new URL('../../examples/panda-robot.json', import.meta.url).pathname;
    const config = parseRobotConfig(JSON.parse(readFileSync(path, 'utf8')), path);
    const env = await createEnv('arm-reach');
    expect(config.joints).toHaveLength(env.actionSpec.shape[0]);
    config.joints.forEach((j, i) => {
      const l = config.limits[j];
      expect(l.position![0]).toBeGreaterThanOrEqual(PANDA_LIMITS.qMin[i]);
      expect(l.position![1]).toBeLessThanOrEqual(PANDA_LIMITS.qMax[i]);
      expect(l.velocity).toBeLessThanOrEqual(PANDA_LIMITS.dqMax[i]);
      expect(l.acceleration).toBeLessThanOrEqual(PANDA_LIMITS.ddqMax[i]);
    });
    env.close();
  });
});
