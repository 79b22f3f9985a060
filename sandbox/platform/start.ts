/**
 * `meridian start [--dir DIR]`: the whole platform on this machine (sandbox/platform/platform.ts),
 * then a short block saying where everything is, until Ctrl-C (SIGINT) or SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import { startPlatform, type RunningPlatform } from './platform.ts';
import { StateDir } from './state-dir.ts';

const USAGE = `usage: meridian start [--dir DIR] [--log-level LEVEL]

Runs a hub and two regions (API emulators with real gateway processes), Redis and the Pub/Sub
emulator when installed, the operator with its dashboard, and a sample RealtimeCluster, all on
127.0.0.1. Ctrl-C stops everything.

  --dir DIR          state directory (default: a new one under the OS temp dir); start again
                     with the same DIR to keep the clusters, secrets and ports
  --log-level LEVEL  level of the logs written to DIR/logs (default info)
`;

export function readyBlock(platform: RunningPlatform, dir: string, seconds: number): string {
  const [first] = platform.regions;
  const lines = [
    '',
    `Meridian is running (ready in ${seconds.toFixed(1)} s). State and logs: ${dir}`,
    '',
    `  dashboard  ${platform.dashboardUrl}`,
    ...platform.regions.map((region) => `  chat ${region.name.padEnd(13)} ${region.demoUrl}`),
    `             (open both, join the same room, and chat across the regions: ${platform.regions.map((r) => `${r.user} in ${r.name}`).join(', ')})`,
    '',
    `  kubectl --kubeconfig ${platform.hubKubeconfigFile} get rtc`,
    `  kubectl --kubeconfig ${platform.hubKubeconfigFile} describe rtc classrooms`,
    `  kubectl --kubeconfig ${first.kubeconfigFile} -n meridian get pods`,
    '',
    ...platform.notes.map((note) => `  note: ${note}`),
    ...(platform.notes.length > 0 ? [''] : []),
    `  Ctrl-C stops everything. Start again with the same state: npm start -- --dir ${dir}`,
    '',
  ];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  let values: { dir?: string; 'log-level'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { dir: { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    process.stderr.write(`meridian start: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const begun = performance.now();
  const dir = await StateDir.open(values.dir);
  try {
    await dir.lock();
  } catch (error) {
    process.stderr.write(`meridian start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`meridian start: starting in ${dir.path} …\n`);

  // A signal during start-up stops what has started so far, once start-up returns or fails.
  let stopRequested = false;
  let platform: RunningPlatform | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C: do not wait any longer (the exit hook kills the children).
      process.stderr.write('meridian start: stopping now\n');
      process.exit(130);
    }
    stopRequested = true;
    if (!platform) return;
    process.stderr.write(`\nmeridian start: ${signal}: stopping the operator, the regions, Redis, Pub/Sub and the hub …\n`);
    stopping = platform
      .stop()
      .then(() => dir.unlock())
      .then(() => {
        process.stderr.write(`meridian start: stopped. State kept in ${dir.path}\n`);
        process.exit(0);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    platform = await startPlatform({ dir, logLevel: values['log-level'] });
  } catch (error) {
    process.stderr.write(`meridian start: could not start: ${(error as Error).message}\nLogs: ${dir.file('logs')}\n`);
    await dir.unlock();
    process.exit(1);
  }
  for (const note of platform.notes) process.stderr.write(`\n*** ${note} ***\n`);
  process.stdout.write(readyBlock(platform, dir.path, (performance.now() - begun) / 1000));
  if (stopRequested) stop('SIGINT');
}
