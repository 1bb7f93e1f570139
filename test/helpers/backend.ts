import { loadNativeBlas } from '../../src/core/native-blas.js';

/**
 * The backend the in-process suites run on: FLOWPOLICY_TEST_BACKEND when
 * set (native, cpu), else wasm, which every checkout has. Run the suite
 * once per backend present to check them all.
 */
export const TEST_BACKEND = process.env.FLOWPOLICY_TEST_BACKEND ?? 'wasm';

/** What `auto` picks on this checkout (the CLI and eval workers' default): native where its addon built, else wasm. */
export const AUTO_BACKEND = 'blas' in loadNativeBlas() ? 'native' : 'wasm';
