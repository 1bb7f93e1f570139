import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/rng.js';
import { InputError } from '../core/errors.js';

/**
 * How a parameter starts. `fanIn` is PyTorch's default for Linear and Conv
 * layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases alike.
 */
export type Init = { kind: 'fanIn'; fanIn: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** Plain weights, keyed by parameter name: what checkpoints store. */
export type WeightMap = Map<string, { shape: number[]; data: Float32Array }>;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The parameter declarations of a network, collected while it is built.
 * Networks are functions of their parameters (`apply(params, ...)`), so the
 * same network runs with training weights, EMA weights or loaded weights.
 */
export class ParamRegistry {
  readonly specs: ParamSpec[] = [];
  private readonly names = new Set<string>();

  declare(name: string, shape: number[], init: Init): string {
    if (this.names.has(name)) throw new Error(`parameter '${name}' declared twice`);
    this.names.add(name);
    this.specs.push({ name, shape, init });
    return name;
  }

  /** A registry view that prefixes names with `prefix.`. */
  scope(prefix: string): ParamScope {
    return new ParamScope(this, prefix);
  }

  count(): number {
    return this.specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  }

  /** Fresh weights drawn from `rng`, identical on every backend for the same seed. */
  initialize(rng: Rng): WeightMap {
    const out: WeightMap = new Map();
    for (const spec of this.specs) {
      const data = new Float32Array(sizeOf(spec.shape));
      if (spec.init.kind === 'ones') data.fill(1);
      else if (spec.init.kind === 'fanIn') {
        const bound = 1 / Math.sqrt(spec.init.fanIn);
        for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * bound;
      }
      out.set(spec.name, { shape: [...spec.shape], data });
    }
    return out;
  }

  /**
   * Check that `weights` holds exactly this network's parameters with the
   * right shapes; `source` names the file or object they came from.
   */
  validate(weights: WeightMap, source: string): void {
    for (const spec of this.specs) {
      const w = weights.get(spec.name);
      if (!w) throw new InputError(`weights["${spec.name}"]`, undefined, `a tensor of shape [${spec.shape}]`, source);
      if (w.shape.length !== spec.shape.length || w.shape.some((d, i) => d !== spec.shape[i])) {
        throw new InputError(`weights["${spec.name}"].shape`, `[${w.shape}]`, `[${spec.shape}]`, source);
      }
      if (w.data.length !== sizeOf(spec.shape)) {
        throw new InputError(`weights["${spec.name}"].data`, w.data, `${sizeOf(spec.shape)} float32 values`, source);
      }
    }
    for (const name of weights.keys()) {
      if (!this.names.has(name)) throw new InputError(`weights["${name}"]`, 'present', 'no such parameter in this network', source);
    }
  }
}

export class ParamScope {
  constructor(
    private readonly registry: ParamRegistry,
    private readonly prefix: string,
  ) {}
  declare(name: string, shape: number[], init: Init): string {
    return this.registry.declare(`${this.prefix}.${name}`, shape, init);
  }
  scope(prefix: string): ParamScope {
    return new ParamScope(this.registry, `${this.prefix}.${prefix}`);
  }
}

/** Something that declares parameters under a name: a registry or a scope of one. */
export type ParamSink = ParamRegistry | ParamScope;

/** Tensors for every parameter of a network: tf.Variables when trainable. */
export class ParamStore {
  private constructor(readonly tensors: Map<string, tf.Variable | tf.Tensor>) {}

  /**
   * `kind`: 'constant' for inference (plain tensors), 'variable' for values
   * updated in place but not trained (EMA), 'trainable' for training.
   */
  static fromWeights(registry: ParamRegistry, weights: WeightMap, options: { kind: 'constant' | 'variable' | 'trainable'; source?: string }): ParamStore {
    registry.validate(weights, options.source ?? 'weights');
    const tensors = new Map<string, tf.Variable | tf.Tensor>();
    for (const spec of registry.specs) {
      const w = weights.get(spec.name)!;
      const t = tf.tensor(w.data, spec.shape, 'float32');
      if (options.kind === 'constant') tensors.set(spec.name, t);
      else {
        tensors.set(spec.name, tf.variable(t, options.kind === 'trainable', `${spec.name}_${variableCounter++}`));
        t.dispose();
      }
    }
    return new ParamStore(tensors);
  }

  get(name: string): tf.Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no parameter '${name}'`);
    return t;
  }

  /** The variables by parameter name (empty for a constant store). */
  variables(): Map<string, tf.Variable> {
    return new Map([...this.tensors].filter((e): e is [string, tf.Variable] => e[1] instanceof tf.Variable));
  }

  /** Read every tensor back into plain arrays (outside any tidy: cheap on CPU backends). */
  toWeights(): WeightMap {
    const out: WeightMap = new Map();
    for (const [name, t] of this.tensors) out.set(name, { shape: [...t.shape], data: (t.dataSync() as Float32Array).slice() });
    return out;
  }

  /** Overwrite values in place (same names and shapes). */
  assign(weights: WeightMap): void {
    for (const [name, t] of this.tensors) {
      const w = weights.get(name);
      if (!w) throw new Error(`assign: missing '${name}'`);
      const v = tf.tensor(w.data, t.shape, 'float32');
      if (t instanceof tf.Variable) {
        t.assign(v);
        v.dispose();
      } else {
        this.tensors.set(name, v);
        t.dispose();
      }
    }
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

// tfjs variable names must be unique per engine; several stores of the same net coexist (EMA).
let variableCounter = 0;
