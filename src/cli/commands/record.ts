import { Command } from 'commander';
import { writeEpisodes } from '../../data/export/episode-writer.js';
import { FlowpolicyError } from '../../core/errors.js';
import { decodeJpeg } from '../../ros/jpeg-decode.js';
import { decodePng } from '../../ros/png-decode.js';
import { EpisodeRecorder, recordedFeatures } from '../../ros/recorder.js';
import { parseRobotConfig } from '../../ros/ros-config.js';
import { info, printJson } from '../output.js';
import { readJsonFile } from '../read-json.js';
import { openConnection } from './deploy.js';
import { intFlag, positiveFlag } from '../numbers.js';

export function recordCommand(): Command {
  return new Command('record')
    .description('Record episodes from ROS topics (observations of the robot config, and the commands as actions) as a dataset')
    .requiredOption('--ros <url>', 'rosbridge WebSocket URL, e.g. ws://127.0.0.1:9090')
    .requiredOption('--config <robot.json>', 'robot config: observation topics, command topic and joints (as for deploy)')
    .requiredOption('--out <dir>', 'dataset to write (flowpolicy format; flowpolicy train reads it)')
    .option('--fps <n>', 'frames per second (default: the config’s action rate, else its control rate)')
    .option('--duration <seconds>', 'stop after this long (else Ctrl-C stops and writes)')
    .option('--episodes <n>', 'stop after this many episodes')
    .option('--episode-seconds <s>', 'end an episode after this long (episodes also end at gaps in the observations)')
    .option('--task <text>', 'task description stored with the dataset')
    .option('--auth <json>', 'rosbridge authentication {mac, client, dest, rand, t, level, end}: inline JSON, @file.json or -')
    .option('--overwrite', 'replace an existing flowpolicy dataset at --out')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      `
A frame is taken only when every observation topic is fresh and finite; a gap
ends the episode. The action of a frame is the latest command seen on the
command topic (JointTrajectory: its first point).

Example:
  flowpolicy record --ros ws://127.0.0.1:9090 --config robot.json --out demos.zarr --episode-seconds 20 --episodes 10`,
    )
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const config = parseRobotConfig(readJsonFile(String(opts.config), '--config'), String(opts.config));
      const fps = opts.fps !== undefined ? positiveFlag(opts.fps, '--fps') : (config.action.rate ?? config.rate);
      const duration = opts.duration !== undefined ? positiveFlag(opts.duration, '--duration') : undefined;
      const maxEpisodes = opts.episodes !== undefined ? intFlag(opts.episodes, '--episodes', 1) : undefined;
      const episodeSeconds = opts.episodeSeconds !== undefined ? positiveFlag(opts.episodeSeconds, '--episode-seconds') : undefined;
      const conn = await openConnection(String(opts.ros), opts.auth as string | undefined);
      const recorder = new EpisodeRecorder({ connection: conn, config, fps, episodeSeconds, decoders: { png: decodePng, jpeg: decodeJpeg } });
      const features = recordedFeatures(config);
      info(`record: ${Object.keys(features).join(', ')} at ${fps} fps -> ${opts.out}`);

      await new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          process.off('SIGINT', finish);
          process.off('SIGTERM', finish);
          resolve();
        };
        const timer = duration !== undefined ? setTimeout(finish, duration * 1000) : undefined;
        process.on('SIGINT', finish);
        process.on('SIGTERM', finish);
        recorder.on('episode', (e) => {
          info(`episode ${e.index}: ${e.frames} frames`);
          if (maxEpisodes !== undefined && e.index + 1 >= maxEpisodes) finish();
        });
        recorder.on('gap', (g) => info(`gap: ${g.reason}`));
        conn.on('lost', (e) => info(`connection lost (${e.reason}); reconnecting`));
        recorder.start();
      });
      const episodes = recorder.stop().slice(0, maxEpisodes);
      conn.close();
      if (episodes.length === 0) throw new FlowpolicyError('no episode recorded: no frame had every observation topic fresh (check the topics and maxAgeMs)');
      const summary = await writeEpisodes(String(opts.out), episodes, {
        fps,
        ...(opts.task !== undefined ? { task: String(opts.task) } : {}),
        features,
        overwrite: Boolean(opts.overwrite),
      });
      if (opts.json) printJson({ ...summary, fps, features: Object.keys(features), badCommands: recorder.badCommands, badObservations: recorder.observation.bad });
      else info(`wrote ${summary.numEpisodes} episodes, ${summary.numFrames} frames to ${summary.path}`);
    });
}
