/**
 * The emulator's "kubelet": every new Pod is handed to a PodRunner, and the runner's readiness
 * reports become the Pod's status (phase, Ready condition, container statuses, an IP).
 * The default runner reports Ready after a delay; a later runner can start real processes.
 */
import { bucketOf, type KubeObject, type Registry } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { ChangeEvent, Store } from '../store.ts';
import { timestamp } from '../time.ts';

export interface RunningPod {
  stop(): Promise<void>;
  /** Where the Pod serves HTTP (e.g. `http://127.0.0.1:4100`), for pods/proxy; read per request. */
  url?: string;
}

export interface PodRunner {
  /** Starts a Pod; calls `onReady` whenever its readiness changes. */
  start(pod: object, onReady: (ready: boolean) => void): RunningPod;
}

export const KUBELET_MANAGER = 'kubelet';

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

  constructor(deps: { registry: Registry; store: Store; resources: Resources; now: () => Date; onError: (error: unknown) => void }, runner: PodRunner) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.now = deps.now;
    this.onError = deps.onError;
    this.runner = runner;
    this.store.subscribe({ bucket: '/pods', deliver: (event) => this.changed(event) });
  }

  /** The HTTP address the runner gave a Pod, if any. */
  urlOf(namespace: string, name: string): string | undefined {
    const pod = this.store.get('/pods', namespace, name);
    return pod ? this.running.get(pod.metadata.uid)?.url : undefined;
  }

  async stop(): Promise<void> {
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    const handles = [...this.running.values()];
    this.running.clear();
    await Promise.all(handles.map((h) => h.stop()));
  }

  private changed(event: ChangeEvent): void {
    const pod = event.object;
    const uid: string = pod.metadata.uid;
    if (event.type === 'DELETED') {
      const handle = this.running.get(uid);
      this.running.delete(uid);
      handle?.stop().catch(this.onError);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      this.terminate(pod);
      return;
    }
    if (event.type !== 'ADDED' || this.running.has(uid)) return;
    // Started on a later tick: the write that created the Pod finishes first.
    setImmediate(() => {
      if (!this.store.get('/pods', pod.metadata.namespace, pod.metadata.name)) return;
      try {
        const ip = `10.244.${Math.floor(this.nextIp / 250) % 250}.${(this.nextIp++ % 250) + 1}`;
        this.setStatus(pod, false, ip);
        this.running.set(uid, this.runner.start(pod, (ready) => this.setStatus(pod, ready, ip)));
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
    const graceMs = (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      this.graceTimers.add(timer);
    });
    Promise.race([handle ? handle.stop() : Promise.resolve(), deadline])
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

  private setStatus(pod: KubeObject, ready: boolean, ip: string): void {
    const podType = this.registry.find('', 'v1', 'pods')!;
    const live = this.store.get(bucketOf(podType), pod.metadata.namespace, pod.metadata.name);
    if (!live || live.metadata.uid !== pod.metadata.uid) return;
    const now = timestamp(this.now());
    const readiness = ready ? 'True' : 'False';
    const next = structuredClone(live) as KubeObject;
    next.status = {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: '10.0.0.1',
      startTime: live.status?.startTime ?? now,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: live.status?.startTime ?? now },
        { type: 'Initialized', status: 'True', lastTransitionTime: live.status?.startTime ?? now },
        { type: 'ContainersReady', status: readiness, lastTransitionTime: now },
        { type: 'Ready', status: readiness, lastTransitionTime: now },
      ],
      containerStatuses: ((live.spec?.containers ?? []) as KubeObject[]).map((c) => ({
        name: c.name,
        image: c.image,
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: live.status?.startTime ?? now } },
      })),
    };
    try {
      this.resources.commit(podType, live, next, { subresource: 'status', fieldManager: KUBELET_MANAGER });
    } catch (error) {
      this.onError(error);
    }
  }
}
