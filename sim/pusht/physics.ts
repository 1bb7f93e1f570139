import RAPIER from '@dimforge/rapier2d-compat';
import { TEE_BOXES, TEE_COG, TEE_INERTIA, TEE_MASS, legacyPlacement } from './tee.js';

/**
 * Push-T's physics on Rapier, set up to behave as the original's Chipmunk
 * world (Diffusion Policy's pymunk PushTEnv):
 *
 * - Agent: a kinematic circle of radius 15 driven by a PD law on its
 *   velocity, once per 100 Hz substep:
 *     v <- v + (kp (target - p) + kv (0 - v)) dt,   kp = 100, kv = 20, dt = 0.01.
 *   Kinematic bodies do not collide with the walls, as in Chipmunk.
 * - Block: the T, one dynamic body of mass 1, centre of gravity (0, 45),
 *   moment of inertia 3000 (see tee.ts), zero friction and restitution.
 * - Damping: the original's space damping is 0 and Chipmunk scales velocity
 *   by damping^dt each step, so the block keeps no velocity from one step
 *   to the next: it moves only while pushed. We zero the block's velocity
 *   before every substep.
 * - Walls: four static segments of radius 2 between (5,5), (506,5),
 *   (506,506), (5,506) (round cuboids of zero height: a segment with radius).
 */

/** Simulator state: agent x, agent y, block x, block y, block angle (pymunk coordinates, pixels and radians). */
export const STATE_NAMES = ['agent x', 'agent y', 'block x', 'block y', 'block angle'] as const;

export const PHYSICS_HZ = 100;
export const CONTROL_HZ = 10;
export const AGENT_RADIUS = 15;
const KP = 100;
const KV = 20;
const WALL_CORNERS: readonly (readonly [number, number])[] = [
  [5, 5],
  [506, 5],
  [506, 506],
  [5, 506],
];
const WALL_RADIUS = 2;

let ready: Promise<void> | undefined;

/** Load Rapier's WebAssembly once per process (or worker). */
export function initPhysics(): Promise<void> {
  ready ??= RAPIER.init();
  return ready;
}

export class PushTPhysics {
  private readonly world: RAPIER.World;
  private readonly agent: RAPIER.RigidBody;
  private readonly block: RAPIER.RigidBody;
  /**
   * The block angle without wrapping: Rapier reports rotations in (-pi, pi],
   * pymunk's `body.angle` accumulates (a reset draw can be -6.6 rad), and
   * states must round-trip as the original reports them.
   */
  private angle = 0;

  /** Call `await initPhysics()` first. */
  constructor() {
    const world = new RAPIER.World({ x: 0, y: 0 });
    world.timestep = 1 / PHYSICS_HZ;
    this.world = world;

    const walls = world.createRigidBody(RAPIER.RigidBodyDesc.fixed());
    for (let i = 0; i < WALL_CORNERS.length; i++) {
      const [ax, ay] = WALL_CORNERS[i];
      const [bx, by] = WALL_CORNERS[(i + 1) % WALL_CORNERS.length];
      const half = Math.hypot(bx - ax, by - ay) / 2;
      const desc = RAPIER.ColliderDesc.roundCuboid(half, 0, WALL_RADIUS)
        .setTranslation((ax + bx) / 2, (ay + by) / 2)
        .setRotation(Math.atan2(by - ay, bx - ax));
      world.createCollider(frictionless(desc), walls);
    }

    this.agent = world.createRigidBody(RAPIER.RigidBodyDesc.kinematicVelocityBased().setTranslation(256, 400));
    world.createCollider(frictionless(RAPIER.ColliderDesc.ball(AGENT_RADIUS)), this.agent);

    // Mass properties come from the original's numbers, not from the shapes' areas.
    this.block = world.createRigidBody(
      RAPIER.RigidBodyDesc.dynamic()
        .setTranslation(256, 300)
        .setAdditionalMassProperties(TEE_MASS, { x: TEE_COG[0], y: TEE_COG[1] }, TEE_INERTIA)
        .setCanSleep(false),
    );
    for (const box of TEE_BOXES) {
      const desc = RAPIER.ColliderDesc.convexPolyline(new Float32Array(box.flat()));
      if (!desc) throw new Error('Push-T block: degenerate box polygon');
      world.createCollider(frictionless(desc).setDensity(0), this.block);
    }
  }

  /**
   * Place the bodies from a seed draw `[agent x, agent y, block x, block y,
   * angle]` as the original's legacy `_set_state` does (block position at
   * angle 0, then the angle, which rotates about the centre of gravity, so
   * the block origin ends up at `legacyPlacement(...)`), then run one
   * physics step "to take effect" as the original does (it pushes the block
   * off an agent drawn inside it).
   */
  placeLegacy(draw: ArrayLike<number>): void {
    this.placeExactly([draw[0], draw[1], ...legacyPlacement(draw[2], draw[3], draw[4])]);
    this.substep(undefined);
  }

  /**
   * Put the bodies at an exact state as `state()` reports it (block origin
   * pose) with zero velocities, without stepping: restores a saved or
   * recorded state as it was.
   */
  placeExactly(state: ArrayLike<number>): void {
    this.agent.setTranslation({ x: state[0], y: state[1] }, true);
    this.agent.setLinvel({ x: 0, y: 0 }, true);
    this.block.setTranslation({ x: state[2], y: state[3] }, true);
    this.block.setRotation(state[4], true);
    this.angle = state[4];
    this.block.setLinvel({ x: 0, y: 0 }, true);
    this.block.setAngvel(0, true);
  }

  /** One control step: PD toward `target` for PHYSICS_HZ / CONTROL_HZ substeps. */
  step(target: ArrayLike<number>): void {
    for (let i = 0; i < PHYSICS_HZ / CONTROL_HZ; i++) this.substep(target);
  }

  private substep(target: ArrayLike<number> | undefined): void {
    const dt = 1 / PHYSICS_HZ;
    if (target) {
      const p = this.agent.translation();
      const v = this.agent.linvel();
      this.agent.setLinvel(
        {
          x: v.x + (KP * (target[0] - p.x) - KV * v.x) * dt,
          y: v.y + (KP * (target[1] - p.y) - KV * v.y) * dt,
        },
        true,
      );
    }
    this.block.setLinvel({ x: 0, y: 0 }, true);
    this.block.setAngvel(0, true);
    const before = this.block.rotation();
    this.world.step();
    const turned = this.block.rotation() - before;
    this.angle += turned - 2 * Math.PI * Math.round(turned / (2 * Math.PI));
  }

  /** [agent x, agent y, block x, block y, block angle]; the block pose is its origin (pymunk's `body.position`). */
  state(): Float64Array {
    const a = this.agent.translation();
    const b = this.block.translation();
    return Float64Array.of(a.x, a.y, b.x, b.y, this.angle);
  }

  /** The agent's velocity (kept between control steps, as in the original). */
  agentVelocity(): [number, number] {
    const v = this.agent.linvel();
    return [v.x, v.y];
  }

  free(): void {
    this.world.free();
  }
}

function frictionless(desc: RAPIER.ColliderDesc): RAPIER.ColliderDesc {
  return desc.setFriction(0).setRestitution(0);
}
