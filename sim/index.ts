/**
 * flowpolicy/sim: simulated tasks behind one Env interface, evaluation,
 * replay, recording, rendering and the browser viewer. Importing this module
 * registers every built-in task.
 */
import './tasks.js';

export type { Env, EnvOptions, ObservationSpec, ActionSpec, FeatureSpace, StepInfo, StepResult, ResetOptions, RgbImage, RenderOptions } from './env.js';
export type { TaskScene } from './scene.js';
export { registerTask, createEnv, listTasks, getTask, type TaskDefinition } from './registry.js';

// Push-T
export { PushTEnv, createPushTEnv, PUSHT_TASK, PUSHT_MAX_STEPS } from './pusht/pusht-env.js';
export { pushtResetDraw } from './pusht/reset.js';
export { coverage as pushtCoverage, GOAL_POSE as PUSHT_GOAL_POSE, SUCCESS_THRESHOLD as PUSHT_SUCCESS_THRESHOLD } from './pusht/coverage.js';
export { TEE_KEYPOINTS, keypointsAt } from './pusht/keypoints.js';
export { ScriptedPusher } from './pusht/scripted-pusher.js';
export { NumpyRandomState, MT19937 } from './numpy-random.js';

// arm-reach
export { ArmReachEnv, ARM_REACH_TASK } from './arm/arm-reach-env.js';
export { ArmReachExpert } from './arm/scripted-expert.js';
export { recordArmDemos } from './arm/record-demos.js';

// running policies in tasks
export { evaluate, type EvalOptions, type EvalSummary } from './eval/evaluate.js';
export { runEpisode, type EpisodeResult, type EpisodeStep } from './eval/run-episode.js';
export { checkPolicyFitsTask } from './eval/policy-fit.js';
export { writeEvalJson, writeEvalHtml, writeEvalVideos } from './eval/eval-report.js';
export { replayDataset, type ReplayReport, type EpisodeReplay } from './replay.js';
export { recordEpisodes, type RecordedEpisode } from './record-episodes.js';

// pictures
export { renderTaskState, renderTaskStates, closeRenderer } from './render/renderer.js';
export { encodeGif, writeGif } from './render/gif.js';
export { startViewer } from './viewer/server.js';
