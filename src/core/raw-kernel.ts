import * as tf from '@tensorflow/tfjs';

/**
 * Elementwise kernels written once over Float32Arrays and registered for
 * the backends whose tensor memory JavaScript can reach directly: wasm (and
 * so `native`, which is wasm underneath) through views of the WebAssembly
 * heap, cpu through its typed arrays. One pass over the data replaces a
 * chain of tfjs kernels, each with its own dispatch and intermediate
 * tensor; elsewhere (tfjs-node) the op runs the composite the caller gives.
 */

/**
 * Fills `outputs` from `inputs`, all of one length, with the op's numeric
 * attributes.
 */
export type RawElementwise = (inputs: Float32Array[], outputs: Float32Array[], attrs: Record<string, number>) => void;

interface WasmLike {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}
interface CpuLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
}

const RAW_BACKENDS = ['wasm', 'cpu'] as const;

function kernelFor(backendName: (typeof RAW_BACKENDS)[number], fn: RawElementwise, inputNames: string[], outputs: number): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const xs = inputNames.map((n) => (inputs as Record<string, tf.TensorInfo>)[n]);
    const shape = xs[0].shape;
    const size = shape.reduce((p, d) => p * d, 1);
    const numeric = attrs as unknown as Record<string, number>;
    if (backendName === 'wasm') {
      const b = backend as unknown as WasmLike;
      const outs = Array.from({ length: outputs }, () => b.makeOutput(shape, 'float32'));
      // Views after makeOutput: allocating may grow, and so replace, the heap.
      const heap = b.wasm.HEAPF32.buffer;
      const view = (t: tf.TensorInfo) => new Float32Array(heap, b.dataIdMap.get(t.dataId).memoryOffset, size);
      fn(xs.map(view), outs.map(view), numeric);
      return outputs === 1 ? outs[0] : outs;
    }
    const b = backend as unknown as CpuLike;
    const outArrays = Array.from({ length: outputs }, () => new Float32Array(size));
    fn(
      xs.map((t) => b.data.get(t.dataId).values as Float32Array),
      outArrays,
      numeric,
    );
    const outs = outArrays.map((a) => b.makeTensorInfo(shape, 'float32', a));
    return outputs === 1 ? outs[0] : outs;
  };
}

export interface RawOp {
  /** Run on tensors of one shape; `attrs` are numbers passed to the kernel. */
  (inputs: tf.Tensor[], attrs?: Record<string, number>): tf.Tensor[];
}

/**
 * Register `fn` as kernel `name` on wasm and cpu (inputs named `inputNames`,
 * float32, one shape; `outputs` outputs of that shape). The op returned runs
 * it where the active backend has it, and `composite` (the same function in
 * tfjs ops) elsewhere.
 */
export function rawElementwiseOp(
  name: string,
  inputNames: string[],
  outputs: number,
  fn: RawElementwise,
  composite: (inputs: tf.Tensor[], attrs: Record<string, number>) => tf.Tensor[],
): RawOp {
  for (const backendName of RAW_BACKENDS) {
    if (!tf.getKernel(name, backendName)) tf.registerKernel({ kernelName: name, backendName, kernelFunc: kernelFor(backendName, fn, inputNames, outputs) });
  }
  return (xs, attrs = {}) => {
    if (!tf.getKernel(name, tf.getBackend()) || xs.some((x) => x.dtype !== 'float32')) return composite(xs, attrs);
    for (const x of xs) {
      if (!tf.util.arraysEqual(x.shape, xs[0].shape)) throw new Error(`${name}: inputs of shapes ${xs.map((t) => `[${t.shape}]`).join(', ')} must be equal`);
    }
    const out = tf.engine().runKernel(name, Object.fromEntries(inputNames.map((n, i) => [n, xs[i]])) as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap);
    return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
  };
}
