/**
 * One gateway Pod run as a local process, through a kubelet's lifecycle:
 *
 * - start: ContainerCreating while its port is chosen, its volumes written and its environment
 *   resolved (a missing required ConfigMap, Secret or key: waiting, CreateContainerConfigError or
 *   ContainerCreating, looked at again every `configRetryMs`); then `node bin/meridian.ts
 *   <args>` with that environment, `MERIDIAN_HOST=127.0.0.1` and `MERIDIAN_PORT=<its port>`,
 *   `MERIDIAN_METRICS_HOST=127.0.0.1` and `MERIDIAN_METRICS_PORT=<a second port of its own>`
 *   (every Pod shares loopback, so the gateway's fixed metrics port would collide),
 *   stdout and stderr to `logs/<container>/<restartCount>.log` in the Pod's directory;
 * - readiness from the container's readiness probe (none: Ready once running);
 * - a process that exits is restarted after `restartBackoffMs`, doubling per restart up to
 *   `restartBackoffMaxMs` (reset after a run of twice that, Kubernetes' 10 min), waiting with
 *   CrashLoopBackOff meanwhile; `restartCount` and `lastState.terminated` record it;
 * - stop(grace): the preStop hook (a sleep, or an httpGet), SIGTERM, then SIGKILL when the rest of
 *   the grace period (at least 2 s, as a kubelet grants) has passed; resolves once the process has
 *   exited. stop() without a grace period (the emulator closing): SIGTERM, SIGKILL after
 *   `shutdownGraceMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KubeObject } from '../registry.ts';
import { ContainerConfigError, expand, resolveEnv } from './container-env.ts';
import { localize, prepareVolumes, type Mount } from './container-volumes.ts';
import type { PodHost, PodReport, RunningPod, TerminatedReport } from './pods.ts';
import { httpGetSucceeds, ReadinessProbe } from './readiness-probe.ts';

export interface ProcessPodSettings {
  nodePath: string;
  meridianBin: string;
  probeTimeScale: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  configRetryMs: number;
  shutdownGraceMs: number;
  logger?: Logger;
  stateDir(): Promise<string>;
  allocatePort(): Promise<number>;
  releasePort(port: number): void;
  /** Called once, when the Pod has stopped for good. */
  ended(pod: ProcessPod): void;
}

const LOOPBACK = '127.0.0.1';
/** A kubelet gives SIGTERM at least this long, even when the preStop hook used up the grace period. */
const MINIMUM_TERMINATION_MS = 2000;

export class ProcessPod implements RunningPod {
  readonly podIP = LOOPBACK;
  readonly initialReport: PodReport = { waiting: { reason: 'ContainerCreating' } };
  url?: string;
  /** Where the gateway's metrics listener is (pods/proxy to the container's `metrics` port). */
  metricsUrl?: string;
  private readonly pod: KubeObject;
  private readonly container: KubeObject;
  private readonly argv: string[];
  private readonly onReady: (ready: boolean, report?: PodReport) => void;
  private readonly host: PodHost;
  private readonly settings: ProcessPodSettings;
  /** Aborted when the emulator closes: cuts the preStop hook and grace waits short. */
  private readonly hurry = new AbortController();
  private halted = false;
  private finished = false;
  private port?: number;
  /** The gateway's metrics listener (`metrics.port`), loopback like the rest. */
  private metricsPort?: number;
  private child?: ChildProcess;
  private childExit: Promise<void> = Promise.resolve();
  private startedAt = new Date();
  private restartCount = 0;
  /** Restarts since the last long run: the exponent of the back-off. */
  private crashes = 0;
  private lastTerminated?: TerminatedReport;
  private waiting?: { reason: string; message?: string } = { reason: 'ContainerCreating' };
  private ready = false;
  private probe?: ReadinessProbe;
  private timer?: NodeJS.Timeout;
  private terminating?: Promise<void>;
  private shuttingDown?: Promise<void>;
  private podDir?: string;

  constructor(pod: KubeObject, argv: string[], onReady: (ready: boolean, report?: PodReport) => void, host: PodHost, settings: ProcessPodSettings) {
    this.pod = pod;
    this.container = pod.spec.containers[0];
    this.argv = argv;
    this.onReady = onReady;
    this.host = host;
    this.settings = settings;
  }

  /** Starts (or restarts) the container; failures other than missing configuration are logged and retried like a crash. */
  begin(): void {
    this.launch().catch((error: unknown) => {
      this.settings.logger?.error({ pod: this.key(), err: error instanceof Error ? error.message : String(error) }, 'gateway process could not be started');
      this.waiting = { reason: 'RunContainerError', message: error instanceof Error ? error.message : String(error) };
      this.report();
      this.scheduleRestart();
    });
  }

  stop(gracePeriodSeconds?: number): Promise<void> {
    if (gracePeriodSeconds === undefined) {
      this.shuttingDown ??= this.shutdown();
      return this.shuttingDown;
    }
    this.terminating ??= this.terminate(gracePeriodSeconds);
    return this.terminating;
  }

  logFile(container: string, previous: boolean): string | undefined {
    const run = previous ? this.restartCount - 1 : this.restartCount;
    if (container !== this.container.name || run < 0 || !this.podDir) return undefined;
    return join(this.podDir, 'logs', container, `${run}.log`);
  }

  /** SIGKILL at once, synchronously: the emulator's process is exiting. */
  kill(): void {
    this.signal('SIGKILL');
  }

  /** pods/proxy to `<pod>:<port>`: the container port named `metrics` (by name or number) is the metrics listener. */
  urlFor(port: string): string | undefined {
    const declared: KubeObject[] = this.container.ports ?? [];
    const metrics = declared.find((p) => p.name === 'metrics');
    if (metrics && (port === 'metrics' || port === String(metrics.containerPort))) return this.metricsUrl;
    return this.url;
  }

  process(): { namespace: string; name: string; uid: string; pid: number; port: number } | undefined {
    if (!this.child?.pid || this.port === undefined) return undefined;
    return { namespace: this.pod.metadata.namespace, name: this.pod.metadata.name, uid: this.pod.metadata.uid, pid: this.child.pid, port: this.port };
  }

  private async launch(): Promise<void> {
    if (this.halted) return;
    const podDir = join(await this.settings.stateDir(), `${this.pod.metadata.namespace}_${this.pod.metadata.name}_${this.pod.metadata.uid}`);
    this.podDir = podDir;
    if (this.port === undefined) {
      const port = await this.settings.allocatePort();
      if (this.finished) {
        this.settings.releasePort(port);
        return;
      }
      this.port = port;
      // Released in end(): a Pod that stopped meanwhile still holds it until then.
      this.url = `http://${LOOPBACK}:${this.port}`;
      this.report();
    }
    if (this.metricsPort === undefined) {
      const metricsPort = await this.settings.allocatePort();
      if (this.finished) {
        this.settings.releasePort(metricsPort);
        return;
      }
      this.metricsPort = metricsPort;
      this.metricsUrl = `http://${LOOPBACK}:${metricsPort}`;
    }
    if (this.halted) return;
    let env: Record<string, string>;
    let mounts: Mount[];
    try {
      mounts = await prepareVolumes(this.pod, this.container, this.host, podDir);
      env = resolveEnv(this.pod, this.container, this.host, { podIP: LOOPBACK, hostIP: LOOPBACK });
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      this.waiting = { reason: error.reason, message: error.message };
      this.report();
      if (!this.halted) this.timer = setTimeout(() => this.begin(), this.settings.configRetryMs);
      return;
    }
    if (this.halted) return;
    for (const [name, value] of Object.entries(env)) env[name] = localize(value, mounts);
    // The kubelet expands $(VAR) in command and args too.
    const args = this.argv.map((arg) => localize(expand(arg, env), mounts));
    const logDir = join(podDir, 'logs', this.container.name);
    await mkdir(logDir, { recursive: true });
    if (this.halted) return;
    this.spawnProcess(args, env, podDir, join(logDir, `${this.restartCount}.log`));
  }

  private spawnProcess(args: string[], env: Record<string, string>, cwd: string, logFile: string): void {
    // A container starts from its image's environment, not the host's: only PATH and HOSTNAME come along.
    const processEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOSTNAME: this.pod.metadata.name, ...env, MERIDIAN_HOST: LOOPBACK, MERIDIAN_PORT: String(this.port), MERIDIAN_METRICS_HOST: LOOPBACK, MERIDIAN_METRICS_PORT: String(this.metricsPort) };
    const log = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.settings.nodePath, [this.settings.meridianBin, ...args], { cwd, env: processEnv, stdio: ['ignore', log, log] });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(log);
    }
    this.child = child;
    this.startedAt = new Date();
    this.childExit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited(child, code, signal);
        resolve();
      });
      child.once('error', (error) => {
        // No PID: the program could not be started at all (there will be no 'exit').
        if (child.pid !== undefined) return;
        this.settings.logger?.error({ pod: this.key(), err: error.message }, 'gateway process could not be spawned');
        this.exited(child, 128, null);
        resolve();
      });
    });
    this.settings.logger?.info({ pod: this.key(), pid: child.pid, port: this.port, log: logFile }, 'gateway process started');
    this.waiting = undefined;
    this.ready = false;
    const probeSpec: KubeObject | undefined = this.container.readinessProbe;
    if (probeSpec) {
      this.probe = new ReadinessProbe(probeSpec, this.port!, this.settings.probeTimeScale, (ready) => {
        this.ready = ready;
        this.report();
      });
      this.probe.start();
    } else {
      this.ready = true;
    }
    this.report();
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.probe?.stop();
    this.probe = undefined;
    this.ready = false;
    const signalNumber = signal ? constants.signals[signal] : undefined;
    const exitCode = code ?? 128 + (signalNumber ?? 0);
    const finishedAt = new Date();
    this.lastTerminated = { exitCode, ...(signalNumber ? { signal: signalNumber } : {}), reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: this.startedAt, finishedAt };
    this.settings.logger?.info({ pod: this.key(), exitCode, signal }, 'gateway process exited');
    if (this.halted) return;
    if (finishedAt.getTime() - this.startedAt.getTime() >= 2 * this.settings.restartBackoffMaxMs) this.crashes = 0;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.halted) return;
    const delay = Math.min(this.settings.restartBackoffMs * 2 ** this.crashes, this.settings.restartBackoffMaxMs);
    this.crashes += 1;
    const { name, namespace, uid } = this.pod.metadata;
    this.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${duration(delay)} restarting failed container=${this.container.name} pod=${name}_${namespace}(${uid})` };
    this.report();
    this.timer = setTimeout(() => {
      this.restartCount += 1;
      this.begin();
    }, delay);
  }

  private report(): void {
    if (this.halted) return;
    this.onReady(this.ready && !this.waiting, {
      restartCount: this.restartCount,
      waiting: this.waiting,
      lastTerminated: this.lastTerminated,
      startedAt: this.waiting ? undefined : this.startedAt,
      port: this.port,
      metricsPort: this.metricsPort,
    });
  }

  /** No more starts, restarts, probes or reports. */
  private halt(): void {
    this.halted = true;
    clearTimeout(this.timer);
    this.probe?.stop();
  }

  private async terminate(graceSeconds: number): Promise<void> {
    this.halt();
    if (this.child) {
      const begun = Date.now();
      const graceMs = graceSeconds * 1000;
      const preStop: KubeObject | undefined = this.container.lifecycle?.preStop;
      if (preStop && graceMs > 0) await this.runPreStop(preStop, graceMs);
      this.signal('SIGTERM');
      await this.exitWithin(Math.max(graceMs - (Date.now() - begun), MINIMUM_TERMINATION_MS));
      this.signal('SIGKILL');
      await this.childExit;
    }
    this.end();
  }

  private async shutdown(): Promise<void> {
    this.halt();
    this.hurry.abort();
    if (this.child) {
      this.signal('SIGTERM');
      await this.exitWithin(this.settings.shutdownGraceMs, false);
      this.signal('SIGKILL');
      await this.childExit;
    }
    await this.terminating;
    this.end();
  }

  /**
   * The preStop hook, for at most `budgetMs`: `sleep` (the lifecycle action, or an exec of
   * `sleep N`) waits; `httpGet` is sent to the Pod's port. Other exec commands are not run (the
   * sandbox has no container to run them in) and are logged.
   */
  private async runPreStop(preStop: KubeObject, budgetMs: number): Promise<void> {
    const begun = Date.now();
    if (preStop.httpGet) await httpGetSucceeds(this.port!, preStop.httpGet, budgetMs);
    const seconds = sleepSeconds(preStop);
    if (seconds === undefined) {
      if (preStop.exec) this.settings.logger?.warn({ pod: this.key(), command: preStop.exec.command }, 'preStop exec hook not run: only sleep commands are run in the sandbox');
      return;
    }
    await this.exitWithin(Math.min(seconds * 1000, budgetMs - (Date.now() - begun)));
  }

  /** Waits until the process exits, `ms` passes, or (when `interruptible`) the emulator closes. */
  private async exitWithin(ms: number, interruptible = true): Promise<void> {
    if (!this.child || (interruptible && this.hurry.signal.aborted)) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    await Promise.race([
      this.childExit,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, ms));
        if (!interruptible) return;
        onAbort = () => resolve();
        this.hurry.signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) this.hurry.signal.removeEventListener('abort', onAbort);
  }

  private signal(signal: NodeJS.Signals): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  private end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.port !== undefined) this.settings.releasePort(this.port);
    if (this.metricsPort !== undefined) this.settings.releasePort(this.metricsPort);
    this.settings.ended(this);
  }

  private key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }
}

/** The seconds of a preStop sleep: `sleep: {seconds}`, or an exec of `sleep N` (directly or via `sh -c`). */
export function sleepSeconds(preStop: KubeObject): number | undefined {
  if (preStop.sleep) return Number(preStop.sleep.seconds ?? 0);
  const command: string[] | undefined = preStop.exec?.command?.map(String);
  if (!command) return undefined;
  const words = command.length === 3 && /(^|\/)(ba)?sh$/.test(command[0]) && command[1] === '-c' ? command[2].trim().split(/\s+/) : command;
  if (words.length === 2 && /(^|\/)sleep$/.test(words[0]) && /^\d+(\.\d+)?$/.test(words[1])) return Number(words[1]);
  return undefined;
}

/** Go-style durations as the kubelet prints them in back-off messages: 10s, 5m0s, 200ms. */
function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`;
  return `${Math.floor(seconds / 60)}m${Number((seconds % 60).toFixed(3))}s`;
}
