import * as tf from '@tensorflow/tfjs';
import { InputError, FlowpolicyError } from './errors.js';
import { useNativeMatMul } from './native-blas.js';

/**
 * Tensor backends in order of preference. The two tfjs-node packages bind
 * libtensorflow, which their install downloads from outside npm, so they are
 * never dependencies: they are used when the user has installed them.
 * `native` is tfjs's wasm backend with its matrix products on the system's
 * OpenBLAS (core/native-blas.ts), available when flowpolicy's addon built
 * at install.
 */
export const BACKENDS = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
/** What --backend and FLOWPOLICY_BACKEND accept, for help texts. */
export const BACKEND_CHOICES = ['auto', ...BACKENDS].join(', ');
export type BackendRequest = BackendName | 'auto';

export interface BackendInfo {
  /** Our name for it. */
  name: BackendName;
  /** The name tfjs registered it under. */
  tfName: string;
  /** One human line: what runs and how (SIMD, threads, ...). */
  detail: string;
  /** Backends tried before this one in `auto` mode, and why each was passed over. */
  skipped: { name: BackendName; reason: string }[];
}

const PACKAGE_OF: Partial<Record<BackendName, string>> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  native: '@tensorflow/tfjs-backend-wasm',
  wasm: '@tensorflow/tfjs-backend-wasm',
};

/** The name tfjs registers each backend under. */
function tfNameOf(name: BackendName): string {
  if (name === 'tfjs-node' || name === 'tfjs-node-gpu') return 'tensorflow';
  return name === 'native' ? 'wasm' : name;
}

let active: BackendInfo | null = null;

/** The backend chosen by the last successful `useBackend`, or null before any. */
export function activeBackend(): BackendInfo | null {
  return active;
}

function isModuleNotFound(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(pkg);
}

/** Try to make `name` the active tfjs backend; returns a reason string when it cannot. */
async function activate(name: BackendName): Promise<{ tfName: string; detail: string } | { reason: string }> {
  const pkg = PACKAGE_OF[name];
  if (pkg) {
    try {
      // A variable specifier keeps bundlers and tsc from requiring the optional packages.
      await import(/* @vite-ignore */ pkg);
    } catch (err) {
      if (isModuleNotFound(err, pkg)) return { reason: `${pkg} is not installed` };
      return { reason: `${pkg} failed to load: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  const tfName = tfNameOf(name);
  if (!tf.findBackendFactory(tfName)) {
    return {
      reason: `${pkg ?? name} loaded but registered no '${tfName}' backend with flowpolicy's @tensorflow/tfjs ${tf.version.tfjs}: install the same tfjs version`,
    };
  }
  // The wasm kernels are shared by 'native' and 'wasm': route the matrix products for the one asked.
  let blasConfig = '';
  if (tfName === 'wasm') {
    const native = useNativeMatMul(name === 'native');
    if (name === 'native') {
      if (!native.ok) return { reason: native.reason };
      blasConfig = `${native.blas.config().split(' ')[0]} ${native.blas.config().split(' ')[1]}, ${native.blas.threads()} thread${native.blas.threads() === 1 ? '' : 's'}`;
    }
  }
  let ok = false;
  try {
    ok = await tf.setBackend(tfName);
    await tf.ready();
  } catch (err) {
    return { reason: `${tfName} failed to initialise: ${(err as Error).message.split('\n')[0]}` };
  }
  // tfjs falls back silently (e.g. wasm with threads forced on in Node ends up on cpu): check.
  if (!ok || tf.getBackend() !== tfName) return { reason: `${tfName} failed to initialise (tfjs is on '${tf.getBackend()}')` };
  let detail: string = name;
  if (name === 'wasm' || name === 'native') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const wasm = `${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multithreaded' : '1 thread'}`;
    detail = name === 'native' ? `native (matrix products on ${blasConfig}; other kernels wasm, ${wasm})` : `wasm (${wasm})`;
  } else if (name === 'cpu') {
    detail = 'cpu (plain JavaScript kernels, slow)';
  } else {
    detail = `${name} (libtensorflow)`;
  }
  return { tfName, detail };
}

/** Read the request from an explicit argument, else FLOWPOLICY_BACKEND, else auto. */
export function resolveBackendRequest(request?: string | null, env: Record<string, string | undefined> = defaultEnv()): BackendRequest {
  const fromFlag = request !== undefined && request !== null && request !== '';
  const raw = fromFlag ? request : env.FLOWPOLICY_BACKEND || 'auto';
  const allowed: readonly string[] = ['auto', ...BACKENDS];
  if (!allowed.includes(raw)) {
    throw new InputError(fromFlag ? '--backend' : 'FLOWPOLICY_BACKEND', raw, `one of ${allowed.join(', ')}`);
  }
  return raw as BackendRequest;
}

function defaultEnv(): Record<string, string | undefined> {
  return typeof process !== 'undefined' ? process.env : {};
}

/**
 * Select the tensor backend. `auto` takes the first that works of
 * tfjs-node-gpu, tfjs-node, native, wasm, cpu; a named backend that cannot run is an
 * error rather than a silent fallback, since the user asked for it.
 */
export async function useBackend(request?: string | null, env?: Record<string, string | undefined>): Promise<BackendInfo> {
  const wanted = resolveBackendRequest(request, env);
  // Production mode silences tfjs's "install tfjs-node" banner on cpu; our own line says what runs.
  tf.enableProdMode();
  const candidates: BackendName[] = wanted === 'auto' ? [...BACKENDS] : [wanted];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    const result = await activate(name);
    if ('tfName' in result) {
      active = { name, tfName: result.tfName, detail: result.detail, skipped };
      return active;
    }
    skipped.push({ name, reason: result.reason });
  }
  const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new FlowpolicyError(`backend '${wanted}' cannot run here (${why})`);
}
