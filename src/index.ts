/**
 * flowpolicy: conditional flow-matching robot policies in TypeScript.
 *
 * Time convention everywhere: t = 0 is noise, t = 1 is data (an action
 * chunk). LeRobot and openpi run time the other way.
 *
 * ```ts
 * import { useBackend, loadDataset, RunConfig, trainFlowPolicy, loadPolicy } from 'flowpolicy';
 * await useBackend();                                  // tfjs-node(-gpu) if installed, else wasm
 * const run = await trainFlowPolicy(RunConfig.parse({ dataset: { path: 'pusht.zarr' } }), { runDir: 'runs/pusht' });
 * const { policy } = loadPolicy(run.checkpointPath);
 * const chunk = policy.act({ 'observation.environment_state': keypoints, 'observation.state': [x, y] });
 * ```
 */

// core: backend, randomness, errors, files
export { useBackend, activeBackend, resolveBackendRequest, BACKENDS, BACKEND_CHOICES, type BackendName, type BackendInfo } from './core/backend.js';
export { loadNativeBlas, activeNativeBlas, type NativeBlas } from './core/native-blas.js';
export { Rng, type RngState } from './core/rng.js';
export { FlowpolicyError, InputError, InputErrors, CorruptFileError } from './core/errors.js';
export { parseInput } from './core/schema.js';
export { writeFileAtomic } from './core/files.js';

// flow: the generative math, robot-agnostic
export { linearPath, type ProbabilityPath } from './flow/path.js';
export { TimeSamplerConfig, sampleTimes } from './flow/time-sampler.js';
export { solveAssignment, otCoupling, permuteRows } from './flow/coupling.js';
export { integrate, SolverConfig, SOLVERS, type SolverName, type SolverOptions, type VelocityField, type OdeResult } from './flow/ode.js';
export { cfmLoss, softCrossEntropy } from './flow/loss.js';
export { imleLoss, imleSelect, regressionLoss, selectionShares, type ImleDims, type ImleSelection } from './flow/imle.js';
export { slicedWasserstein } from './flow/sliced-wasserstein.js';
export { LfmScheduleConfig, ouSteps, cumulativeSignal } from './flow/lfm-schedule.js';
export { ouStep, ouStepPairs } from './flow/lfm-ou.js';
export { LfmInterpolant, LFM_INTERPOLANTS, lfmPath, trigonometricPath } from './flow/lfm-interpolant.js';
export { pushPool, pushThroughChain, generateThroughChain, chainLogLikelihood, type LfmSolverOptions, type ChainResult, type DivergenceField, type DensityBlock, type LikelihoodResult } from './flow/lfm.js';

// nets: velocity networks
export { NetConfig, MlpNetConfig, UNet1dNetConfig, createVelocityNet, type VelocityNet, type NetDims } from './nets/velocity-net.js';
export { ParamRegistry, ParamStore, type WeightMap } from './nets/params.js';

// data: episodes, windows, normalisation, formats
export { EpisodeDataset, type Feature, type DatasetInfo } from './data/episode-dataset.js';
export { loadDataset } from './data/load-dataset.js';
export { importDiffusionPolicyZarr } from './data/import/diffusion-policy-zarr.js';
export { WindowSampler, type WindowSpec } from './data/windows.js';
export { jitterWindows, type JitterOptions } from './data/jitter-windows.js';
export { splitEpisodes, type SplitOptions } from './data/split.js';
export { Normalizer, NormMode, FeatureStats, computeStats } from './data/normalizer.js';

// policy: the Policy interface, the flow-matching teacher, checkpoints
export type { Policy, ObservationFrame, ActionChunk, ActOptions, FeatureSpec, PolicyIO } from './policy/policy.js';
export { FlowPolicy, type FlowActOptions } from './policy/flow-policy.js';
export { FlowPolicyConfig } from './policy/config.js';
export { saveCheckpoint, readCheckpoint, loadPolicy, encodeCheckpoint, decodeCheckpoint, CHECKPOINT_FORMAT, CheckpointPolicyConfig, type PolicyKind, type CheckpointContents, type CheckpointMeta } from './policy/checkpoint.js';
export { StudentPolicy, type StudentActOptions, type StudentEngine, type StudentPolicyOptions } from './policy/student-policy.js';
export { StudentAnchors, StudentConfig, StudentRefine, studentConfigFor } from './policy/student-config.js';
export { AnchorGate } from './policy/anchor-gate.js';
export { GateNet } from './nets/gate-net.js';
export { refineStudent } from './policy/refine-student.js';
export { RealtimeMlp, REALTIME_KERNELS, type RealtimeKernel } from './policy/realtime-mlp.js';
export { openPolicy, checkKernelOption, type OpenPolicyOptions, resolvePolicySource, resolveCheckpointPath, policyIoOf, registerScriptedPolicy, listScriptedPolicies, isScriptedSpec, type ScriptedPolicyDefinition } from './policy/policy-source.js';
export { LfmPolicyConfig, LfmSpec, LfmFlowSpec, DEFAULT_LFM_SCHEDULE, blockCount, blockSteps, blockPrefix } from './policy/lfm-config.js';
export { LocalFlowPolicy, chainRegistry, splitChainWeights, joinChainWeights } from './policy/local-flow-policy.js';
export { PresetConfig, PRESET_FILE, readPreset, presetOf, type Preset } from './policy/preset.js';

// train: the trainer and its parts
export { RunConfig, DatasetConfig, PolicyOptions, TrainOptions, type RunConfigInput } from './train/config.js';
export { trainFlowPolicy, policyConfigFor, RUN_FILES, type TrainHooks, type TrainResult, type TrainStartInfo } from './train/flow-trainer.js';
export { AdamW, type AdamWOptions } from './train/adamw.js';
export { distillStudent, openDistillation, DISTILL_FILES, type DistillHooks, type DistillResult } from './train/distill-trainer.js';
export { anchorShares, fitGate, type GateFitOptions, type GateFitResult } from './train/gate-fit.js';
export { distillBlocks } from './train/block-distill-trainer.js';
export { refinedStudentSampler } from './train/refined-teacher.js';
export { reflowTeacher } from './train/reflow-trainer.js';
export { DistillConfig, VisitedObservations, JitterConfig, type DistillConfigInput } from './train/distill-config.js';
export { trainLocalFlowPolicy, lfmPolicyConfigFor, blockBudget, LFM_FILES, type LfmTrainHooks, type LfmTrainResult, type LfmTrainStartInfo } from './train/lfm-trainer.js';
export { LfmRunOptions, LfmPushOptions } from './train/config.js';
export { openSegmentedTeacherCache, openTeacherCache, type SamplingTeacher, type SegmentedTeacherCache } from './train/teacher-cache.js';
export { learningRate } from './train/schedule.js';
export { emaDecay } from './train/ema.js';
export { MetricsLog, type MetricRecord } from './train/metrics-log.js';

// data: the project's dataset format
export { writeEpisodes, appendEpisodes, type Episode, type WriteOptions } from './data/export/episode-writer.js';
export { importFlowpolicyZarr } from './data/import/flowpolicy-zarr.js';

export { VERSION } from './version.js';
