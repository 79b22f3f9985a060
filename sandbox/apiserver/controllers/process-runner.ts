/**
 * The process runner: a kubelet for the sandbox that runs each Pod of the Meridian gateway as a
 * real `meridian gateway` process on 127.0.0.1 (with the emulator's own Node binary), one free
 * port per Pod. Every other Pod is handed to the fallback runner (Ready after a delay).
 *
 * A Pod is a gateway Pod when it has one container and that container's command line, after an
 * optional `meridian` (or `node …/meridian.ts`) entry point, starts with `gateway`: the
 * operator's `command: [meridian, gateway, --config, …]` and an image-style `args: [gateway]`
 * both qualify. The image is not pulled or read: the gateway is this checkout's bin/meridian.ts.
 *
 * Each Pod's lifecycle (environment, volumes, readiness, restarts, termination) is ProcessPod's;
 * this file decides which Pods run as processes, hands out ports, and ends every process when
 * the emulator closes or the process exits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { KubeObject } from '../registry.ts';
import { delayedReadyRunner, type PodRunner, type RunningPod } from './pods.ts';
import { ProcessPod, type ProcessPodSettings } from './process-pod.ts';

export interface ProcessRunnerOptions {
  /**
   * Where each Pod gets its directory (`<namespace>_<name>_<uid>/`, holding its volumes and
   * `logs/<container>/<restartCount>.log`). Default: a new temporary directory, removed when the
   * emulator closes; a directory given here is kept.
   */
  stateDir?: string;
  /** Multiplies readiness probes' periodSeconds and initialDelaySeconds (tests: 0.1). Default 1. */
  probeTimeScale?: number;
  /** Delay before the first restart of a process that exited; doubles per restart. Kubernetes: 10 s. */
  restartBackoffMs?: number;
  /** The longest restart delay. Kubernetes: 5 min. */
  restartBackoffMaxMs?: number;
  /** How often a container waiting for a missing ConfigMap or Secret looks again. Default 1 s. */
  configRetryMs?: number;
  /** When the emulator closes: SIGTERM, then SIGKILL after this long. Default 2 s. */
  shutdownGraceMs?: number;
  /** Runs the Pods that are not gateway Pods. Default: Ready after 200 ms. */
  fallback?: PodRunner;
  /** The Node binary (default: the emulator's own, process.execPath). */
  nodePath?: string;
  logger?: Logger;
}

/** A gateway process the runner has started and not yet seen exit. */
export interface RunnerProcess {
  namespace: string;
  name: string;
  uid: string;
  pid: number;
  port: number;
}

export interface ProcessRunner extends PodRunner {
  /** Every process running now (tests check PIDs with it). */
  processes(): RunnerProcess[];
  /** The directory holding Pods' volumes and logs. */
  stateDir(): Promise<string>;
}

export const PROCESS_RUNNER_DEFAULTS = {
  probeTimeScale: 1,
  restartBackoffMs: 10_000,
  restartBackoffMaxMs: 300_000,
  configRetryMs: 1000,
  shutdownGraceMs: 2000,
};

const MERIDIAN_BIN = fileURLToPath(new URL('../../../bin/meridian.ts', import.meta.url));

export function processRunner(options: ProcessRunnerOptions = {}): ProcessRunner {
  const settings = { ...PROCESS_RUNNER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof PROCESS_RUNNER_DEFAULTS & ProcessRunnerOptions;
  const fallback = settings.fallback ?? delayedReadyRunner(200);
  const pods = new Set<ProcessPod>();
  const ports = new Set<number>();
  let stateDir: Promise<string> | undefined;
  const ensureStateDir = () => (stateDir ??= settings.stateDir ? Promise.resolve(settings.stateDir) : mkdtemp(join(tmpdir(), 'meridian-kubelet-')));
  // Last resort if the emulator's process ends without close(): no gateway outlives it.
  const killAll = () => {
    for (const pod of pods) pod.kill();
  };

  const podSettings: ProcessPodSettings = {
    nodePath: settings.nodePath ?? process.execPath,
    meridianBin: MERIDIAN_BIN,
    probeTimeScale: settings.probeTimeScale,
    restartBackoffMs: settings.restartBackoffMs,
    restartBackoffMaxMs: settings.restartBackoffMaxMs,
    configRetryMs: settings.configRetryMs,
    shutdownGraceMs: settings.shutdownGraceMs,
    logger: settings.logger,
    stateDir: ensureStateDir,
    allocatePort: async () => {
      // A port the OS called free a moment ago and no other Pod of this runner holds.
      for (;;) {
        const port = await freeLoopbackPort();
        if (ports.has(port)) continue;
        ports.add(port);
        return port;
      }
    },
    releasePort: (port) => ports.delete(port),
    ended: (pod) => {
      pods.delete(pod);
      if (pods.size === 0) process.off('exit', killAll);
    },
  };

  return {
    start(pod, onReady, host) {
      const object = pod as KubeObject;
      const argv = gatewayArgv(object);
      if (!argv) return fallback.start(pod, onReady, host);
      if (pods.size === 0) process.on('exit', killAll);
      const running = new ProcessPod(object, argv, onReady, host, podSettings);
      pods.add(running);
      running.begin();
      return running satisfies RunningPod;
    },
    async close() {
      await Promise.all([...pods].map((pod) => pod.stop()));
      await fallback.close?.();
      if (stateDir && !settings.stateDir) await rm(await stateDir, { recursive: true, force: true });
      stateDir = undefined;
    },
    processes: () => [...pods].flatMap((pod) => pod.process() ?? []),
    stateDir: ensureStateDir,
  };
}

/**
 * The gateway's command line after the `meridian` entry point when the Pod runs the Meridian
 * gateway (one container whose command, or image-style args, start with `gateway` after an
 * optional `meridian` or `node …/meridian.ts`), else undefined.
 */
export function gatewayArgv(pod: KubeObject): string[] | undefined {
  const containers: KubeObject[] = pod.spec?.containers ?? [];
  if (containers.length !== 1 || (pod.spec?.initContainers ?? []).length > 0) return undefined;
  const [container] = containers;
  const argv: string[] = [...(container.command ?? []), ...(container.args ?? [])].map(String);
  if (argv.length > 1 && /^node(js)?$/.test(basename(argv[0])) && basename(argv[1]) === 'meridian.ts') argv.splice(0, 2);
  else if (argv.length > 0 && ['meridian', 'meridian.ts'].includes(basename(argv[0]))) argv.splice(0, 1);
  else if (container.command?.length) return undefined;
  return argv[0] === 'gateway' ? argv : undefined;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port was assigned'))));
    });
  });
}
