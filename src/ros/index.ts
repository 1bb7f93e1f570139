/**
 * ROS bridge: rosbridge v2 (roslib) connection, observations from topics,
 * the timestamped action queue, safety limits and the fixed-rate action
 * streamer. Speaks only the Policy interface.
 */
export {
  RosConnection,
  RosError,
  RosConnectError,
  RosAuthError,
  RosDisconnectedError,
  RosServiceError,
  backoffDelay,
  type RosAuth,
  type RosConnectionOptions,
  type ReconnectOptions,
  type ConnectionEvents,
  type RosStatusMessage,
  type Subscription,
  type Publisher,
} from './connection.js';
export {
  ObservationSource,
  ObservationConfig,
  ObservationSourceSpec,
  BadMessageError,
  featureSize,
  sourceSize,
  type ObservationStatus,
  type ObservationSourceOptions,
  type DecodedImage,
  type ImageDecoders,
} from './observation-source.js';
export { ActionQueue, type MergeMode, type TimedChunk } from './action-queue.js';
export {
  SafetyFilter,
  InterventionLog,
  allFinite,
  type JointLimits,
  type CommandInterface,
  type ClampKind,
  type StopReason,
  type Intervention,
  type FilterResult,
} from './safety.js';
export {
  ActionStreamer,
  checkCompatible,
  mergeModeOf,
  type StreamerState,
  type StreamerStatus,
  type StreamerEvents,
  type StreamerOptions,
} from './action-streamer.js';
export { RobotConfig, MergeConfig, CommandConfig, JointLimitsConfig, commandInterface, parseRobotConfig } from './ros-config.js';
export { rosTime, tickStamp, fromRosTime, jointTrajectoryMsg, float64MultiArrayMsg, twistMsg, type RosVersion, type RosTime } from './messages.js';
export { InlineRunner, type InferenceRunner } from './inference.js';
export { WorkerRunner } from './worker-runner.js';
export { createPolicy } from './policy-source.js';
export { ScriptedPolicy, createScriptedPolicy, parseScriptedSpec, SCRIPTED_KINDS, type ScriptedParams, type ScriptedActOptions } from './scripted-policy.js';
export { decodePng } from './png-decode.js';
export { decodeJpeg } from './jpeg-decode.js';
export { EpisodeRecorder, recordedFeatures, type RecorderOptions, type RecorderEvents } from './recorder.js';
