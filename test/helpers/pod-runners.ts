/**
 * Pod runners for emulator tests: readiness, restarts and stopping happen when the test says so,
 * so scenarios wait for conditions instead of sleeping.
 */
import type * as k8s from '@kubernetes/client-node';
import type { PodReport, PodRunner } from '../../sandbox/apiserver/index.ts';

export interface ManualRunner {
  runner: PodRunner;
  /** Pods started, by name, with the callback that reports their readiness. */
  started: Map<string, (ready: boolean, report?: PodReport) => void>;
  /** Names of Pods the emulator asked to stop, in order. */
  stopped: string[];
  /** Holds every later stop() until `releaseStops()` (Pods stay Terminating meanwhile). */
  holdStops(): void;
  releaseStops(): void;
}

export function manualRunner(): ManualRunner {
  const started = new Map<string, (ready: boolean, report?: PodReport) => void>();
  const stopped: string[] = [];
  let held: Array<() => void> | undefined;
  const runner: PodRunner = {
    start(pod, onReady) {
      const name = (pod as k8s.V1Pod).metadata!.name!;
      started.set(name, onReady);
      return {
        stop() {
          stopped.push(name);
          if (!held) return Promise.resolve();
          const waiting = held;
          return new Promise<void>((resolve) => waiting.push(resolve));
        },
      };
    },
  };
  return {
    runner,
    started,
    stopped,
    holdStops: () => {
      held ??= [];
    },
    releaseStops: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const release of waiting) release();
    },
  };
}
