/**
 * The emulator's "kubelet": every new Pod is handed to a PodRunner, and the runner's reports
 * become the Pod's status (phase Running, conditions, container statuses with container and
 * image IDs, restart counts, an IP). Pods are created `Pending` with their QoS class (the API's
 * doing, see pod-qos.ts); a deleted Pod is stopped in its runner within its grace period.
 * The default runner reports Ready after a delay; the process runner (process-runner.ts) runs
 * gateway Pods as real processes through the same seam.
 */
import { createHash } from 'node:crypto';
import { bucketOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { ChangeEvent, Store } from '../store.ts';
import { timestamp } from '../time.ts';
import type { ControllerDeps } from './keyed-controller.ts';

/** A Pod the runner is running. */
export interface RunningPod {
  /**
   * Stops the Pod (a real runner: preStop, SIGTERM, then SIGKILL). `gracePeriodSeconds` is the
   * Pod's `deletionGracePeriodSeconds` when it is deleted, and undefined when the emulator closes
   * (the runner then ends it promptly). The Pod stays Terminating until this resolves or its grace
   * period plus RUNNER_STOP_SLACK_MS ends, whichever is first; then it is removed.
   */
  stop(gracePeriodSeconds?: number): Promise<void>;
  /** Where the Pod serves HTTP (e.g. `http://127.0.0.1:4100`), for pods/proxy; read per request. */
  url?: string;
  /** The address of another port of the Pod (`<pod>:<port>` in pods/proxy, a name or a number); default: `url`. */
  urlFor?(port: string): string | undefined;
  /** The Pod's IP when the runner decides it (the process runner: 127.0.0.1); else one from 10.244.0.0/16. */
  podIP?: string;
  /** The Pod's status until the runner's first report (e.g. waiting: ContainerCreating); default: running. */
  initialReport?: PodReport;
  /** The file holding a container's output for its current (or previous) run, for pods/log. */
  logFile?(container: string, previous: boolean): string | undefined;
}

/** How a container's previous run ended (`lastState.terminated`). */
export interface TerminatedReport {
  exitCode: number;
  /** The signal that ended it, as a number (9 for SIGKILL). */
  signal?: number;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
}

/** What a runner may say about a Pod besides readiness. */
export interface PodReport {
  /** Times the Pod's containers were restarted (a process that exited and was started again). */
  restartCount?: number;
  /**
   * The container is not running, and why, in the kubelet's words (`ContainerCreating`,
   * `CreateContainerConfigError`, `CrashLoopBackOff`). Absent: it is running.
   */
  waiting?: { reason: string; message?: string };
  /** How the previous run ended. */
  lastTerminated?: TerminatedReport;
  /** When the running container started (default: when the runner first reported it running). */
  startedAt?: Date;
  /** The port the Pod serves on when it is not its containerPort; written as PORT_ANNOTATION. */
  port?: number;
  /** The Pod's metrics port (a gateway's metrics listener); written as METRICS_PORT_ANNOTATION. */
  metricsPort?: number;
}

/** Read access to the objects a kubelet resolves for a Pod (ConfigMaps and Secrets it references). */
export interface PodHost {
  read(resource: 'configmaps' | 'secrets', namespace: string, name: string): object | undefined;
}

/**
 * The one seam between the emulator and whatever runs Pods. `start` is called once per Pod, on
 * the tick after it was created, with the stored Pod (spec, labels, annotations, uid); it must not
 * block. `host` reads the ConfigMaps and Secrets the Pod references. The runner calls
 * `onReady(ready, report)` whenever readiness or its report (restarts, waiting reason, port)
 * changes; each call becomes one status write. `stop` is called once when the Pod is deleted, and
 * for every running Pod when the emulator closes; then `close`.
 */
export interface PodRunner {
  start(pod: object, onReady: (ready: boolean, report?: PodReport) => void, host: PodHost): RunningPod;
  /** Ends whatever the runner still runs (Pods still terminating too); called once when the emulator closes. */
  close?(): Promise<void>;
}

export const KUBELET_MANAGER = 'kubelet';

/**
 * On a Pod whose runner serves it on a port of its own (the process runner: every Pod on
 * 127.0.0.1 needs a different port): that port. Written by the kubelet once it is chosen.
 */
export const PORT_ANNOTATION = 'sandbox.meridian.dev/port';
export const METRICS_PORT_ANNOTATION = 'sandbox.meridian.dev/metrics-port';

/**
 * How long past its grace period a Terminating Pod waits for its runner: a kubelet gives SIGTERM
 * at least 2 s even when a preStop hook used up the grace period, then SIGKILL and the exit.
 */
export const RUNNER_STOP_SLACK_MS = 3000;

/** Reports every Pod Ready after `readyDelayMs`. */
export function delayedReadyRunner(readyDelayMs: number): PodRunner {
  return {
    start(_pod, onReady) {
      const timer = setTimeout(() => onReady(true), readyDelayMs);
      return {
        async stop() {
          clearTimeout(timer);
        },
      };
    },
  };
}

export class PodController {
  private readonly registry: Registry;
  private readonly store: Store;
  private readonly resources: Resources;
  private readonly now: () => Date;
  private readonly runner: PodRunner;
  private readonly onError: (error: unknown) => void;
  private readonly running = new Map<string, RunningPod>();
  private readonly terminating = new Set<string>();
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private nextIp = 2;
  private readonly host: PodHost;

  constructor(deps: ControllerDeps, runner: PodRunner) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.now = deps.now;
    this.onError = deps.onError;
    this.runner = runner;
    this.host = {
      read: (resource, namespace, name) => {
        const type = this.registry.find('', 'v1', resource);
        return type ? this.store.get(bucketOf(type), namespace, name) : undefined;
      },
    };
    this.store.subscribe({ bucket: '/pods', deliver: (event) => this.changed(event) });
  }

  /** The HTTP address the runner gave a Pod, if any. */
  urlOf(namespace: string, name: string, port?: string): string | undefined {
    const pod = this.store.get('/pods', namespace, name);
    const running = pod ? this.running.get(pod.metadata.uid) : undefined;
    return port && running?.urlFor ? running.urlFor(port) : running?.url;
  }

  /** The runner's log file of a Pod's container, if it keeps one. */
  logFileOf(namespace: string, name: string, container: string, previous: boolean): string | undefined {
    const pod = this.store.get('/pods', namespace, name);
    return pod ? this.running.get(pod.metadata.uid)?.logFile?.(container, previous) : undefined;
  }

  async stop(): Promise<void> {
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    const handles = [...this.running.values()];
    this.running.clear();
    await Promise.all(handles.map((h) => h.stop().catch(this.onError)));
    await this.runner.close?.().catch(this.onError);
  }

  private changed(event: ChangeEvent): void {
    const pod = event.object;
    const uid: string = pod.metadata.uid;
    if (event.type === 'DELETED') {
      const handle = this.running.get(uid);
      this.running.delete(uid);
      // Removed without a grace period (gracePeriodSeconds=0): stopped as a kubelet does, with the minimum grace.
      handle?.stop(0).catch(this.onError);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      this.terminate(pod);
      return;
    }
    if (event.type !== 'ADDED' || this.running.has(uid)) return;
    // Started on a later tick: the write that created the Pod finishes first.
    setImmediate(() => {
      // A Pod deleted before its first tick is never started (a kubelet would not start it either).
      const live = this.store.get('/pods', pod.metadata.namespace, pod.metadata.name);
      if (!live || live.metadata.uid !== uid || live.metadata.deletionTimestamp) return;
      try {
        let ip = `10.244.${Math.floor(this.nextIp / 250) % 250}.${(this.nextIp++ % 250) + 1}`;
        const handle = this.runner.start(pod, (ready, report) => this.setStatus(pod, ready, ip, report), this.host);
        ip = handle.podIP ?? ip;
        this.running.set(uid, handle);
        this.setStatus(pod, false, ip, handle.initialReport);
      } catch (error) {
        this.onError(error);
      }
    });
  }

  /**
   * A Pod being deleted gracefully: stop it in the runner (for at most its grace period, as a
   * kubelet would), then remove it. Runs once per Pod.
   */
  private terminate(pod: KubeObject): void {
    const uid: string = pod.metadata.uid;
    if (this.terminating.has(uid)) return;
    const handle = this.running.get(uid);
    if (!handle && (pod.metadata.deletionGracePeriodSeconds ?? 0) === 0) return;
    this.terminating.add(uid);
    this.running.delete(uid);
    const graceSeconds: number = pod.metadata.deletionGracePeriodSeconds ?? 0;
    const graceMs = graceSeconds * 1000 + (handle ? RUNNER_STOP_SLACK_MS : 0);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      this.graceTimers.add(timer);
    });
    Promise.race([handle ? handle.stop(graceSeconds) : Promise.resolve(), deadline])
      .catch(this.onError)
      .finally(() => {
        clearTimeout(timer);
        if (timer) this.graceTimers.delete(timer);
        this.terminating.delete(uid);
        const podType = this.registry.find('', 'v1', 'pods')!;
        const live = this.store.get(bucketOf(podType), pod.metadata.namespace, pod.metadata.name);
        if (!live || live.metadata.uid !== uid) return;
        try {
          this.resources.delete(podType, pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0, preconditions: { uid } });
        } catch (error) {
          this.onError(error);
        }
      });
  }

  private setStatus(pod: KubeObject, ready: boolean, ip: string, report: PodReport = {}): void {
    const podType = this.registry.find('', 'v1', 'pods')!;
    let live = this.store.get(bucketOf(podType), pod.metadata.namespace, pod.metadata.name);
    if (!live || live.metadata.uid !== pod.metadata.uid || live.metadata.deletionTimestamp) return;
    const annotations = live.metadata.annotations ?? {};
    if ((report.port !== undefined && annotations[PORT_ANNOTATION] !== String(report.port)) || (report.metricsPort !== undefined && annotations[METRICS_PORT_ANNOTATION] !== String(report.metricsPort))) {
      live = this.annotatePorts(podType, live, report);
      if (!live) return;
    }
    const now = timestamp(this.now());
    const running = !report.waiting;
    const readiness = ready && running ? 'True' : 'False';
    const started = live.status?.startTime ?? now;
    const before: KubeObject[] = live.status?.conditions ?? [];
    // lastTransitionTime moves only when a condition flips: minReadySeconds and scale-down order read it.
    const condition = (type: string, status: string) => {
      const previous = before.find((c) => c.type === type);
      return { type, status, lastProbeTime: null, lastTransitionTime: previous && previous.status === status ? previous.lastTransitionTime : now };
    };
    const previousStatuses: KubeObject[] = live.status?.containerStatuses ?? [];
    const containerStatuses = ((live.spec?.containers ?? []) as KubeObject[]).map((c) => {
      const previous = previousStatuses.find((s) => s.name === c.name);
      const restartCount = report.restartCount ?? previous?.restartCount ?? 0;
      const containerID = `containerd://${sha256(`${live.metadata.uid}/${c.name}/${restartCount}`)}`;
      const startedAt = report.startedAt ? timestamp(report.startedAt) : previous && previous.restartCount === restartCount ? (previous.state?.running?.startedAt ?? started) : now;
      const terminated = report.lastTerminated;
      return {
        name: c.name,
        image: c.image,
        imageID: imageId(String(c.image ?? '')),
        ...(running ? { containerID } : {}),
        ready: readiness === 'True',
        started: running,
        restartCount,
        state: running ? { running: { startedAt } } : { waiting: { reason: report.waiting!.reason, ...(report.waiting!.message ? { message: report.waiting!.message } : {}) } },
        lastState: terminated
          ? {
              terminated: {
                exitCode: terminated.exitCode,
                ...(terminated.signal ? { signal: terminated.signal } : {}),
                reason: terminated.reason,
                startedAt: timestamp(terminated.startedAt),
                finishedAt: timestamp(terminated.finishedAt),
                containerID: `containerd://${sha256(`${live.metadata.uid}/${c.name}/${restartCount - 1}`)}`,
              },
            }
          : {},
      };
    });
    // A Pod whose containers never ran is Pending, as on a real node; one that ran stays Running between restarts.
    const everRan = running || containerStatuses.some((s) => s.restartCount > 0) || report.lastTerminated !== undefined;
    const next = structuredClone(live) as KubeObject;
    const hostIP = ip === LOOPBACK ? LOOPBACK : HOST_IP;
    next.status = {
      phase: everRan ? 'Running' : 'Pending',
      qosClass: live.status?.qosClass,
      podIP: ip,
      podIPs: [{ ip }],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      startTime: started,
      conditions: [
        condition('PodReadyToStartContainers', 'True'),
        condition('Initialized', 'True'),
        condition('Ready', readiness),
        condition('ContainersReady', readiness),
        condition('PodScheduled', 'True'),
      ],
      containerStatuses,
    };
    if (next.status.qosClass === undefined) delete next.status.qosClass;
    try {
      this.resources.commit(podType, live, next, { subresource: 'status', fieldManager: KUBELET_MANAGER });
    } catch (error) {
      this.onError(error);
    }
  }

  /** Records the Pod's own ports (PORT_ANNOTATION, METRICS_PORT_ANNOTATION) before the status that makes it Ready. */
  private annotatePorts(podType: ResourceType, live: KubeObject, report: PodReport): KubeObject | undefined {
    const next = structuredClone(live) as KubeObject;
    next.metadata.annotations = {
      ...next.metadata.annotations,
      ...(report.port !== undefined ? { [PORT_ANNOTATION]: String(report.port) } : {}),
      ...(report.metricsPort !== undefined ? { [METRICS_PORT_ANNOTATION]: String(report.metricsPort) } : {}),
    };
    try {
      return this.resources.commit(podType, live, next, { fieldManager: KUBELET_MANAGER });
    } catch (error) {
      this.onError(error);
      return undefined;
    }
  }
}

/** The node every Pod runs on (there is one, unnamed: no scheduler, no Node objects). */
const HOST_IP = '10.0.0.1';
/** Pods run as local processes (the process runner) share the host's loopback address. */
const LOOPBACK = '127.0.0.1';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * A digest reference such as a container runtime reports (`docker.io/library/nginx@sha256:…`):
 * the image's repository, normalised as the runtime does, and a digest derived from its name.
 */
function imageId(image: string): string {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const tagAt = withoutDigest.indexOf(':', lastSlash + 1);
  let repository = tagAt === -1 ? withoutDigest : withoutDigest.slice(0, tagAt);
  const first = repository.split('/')[0];
  const hasRegistry = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) repository = `docker.io/${repository.includes('/') ? repository : `library/${repository}`}`;
  return `${repository}@sha256:${sha256(image)}`;
}
