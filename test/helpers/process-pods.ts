/**
 * For scenarios on the process runner: gateway Deployments, their Pods' ports and processes, and
 * a watch that keeps every status a Pod passes through.
 */
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { PORT_ANNOTATION } from '../../sandbox/apiserver/index.ts';
import type { Sandbox } from './apiserver.ts';
import { waitFor } from './net.ts';

/** A Deployment whose Pods run `meridian gateway` (image-style args), probed on /readyz. */
export function gatewayDeployment(name: string, replicas: number, container: Partial<k8s.V1Container> = {}, pod: Partial<k8s.V1PodSpec> = {}): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 10,
          ...pod,
          containers: [
            {
              name: 'gateway',
              image: 'meridian:dev',
              args: ['gateway'],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 2 },
              ...container,
            },
          ],
        },
      },
    },
  };
}

export async function podsOf(sb: Sandbox, app: string): Promise<k8s.V1Pod[]> {
  return (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${app}` })).items;
}

export function isPodReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** Waits until exactly `count` Pods of the app exist, none terminating, all Ready. */
export async function readyPods(sb: Sandbox, app: string, count: number, timeoutMs = 30_000): Promise<k8s.V1Pod[]> {
  return waitFor(
    async () => {
      const pods = await podsOf(sb, app);
      return pods.length === count && pods.every((p) => !p.metadata!.deletionTimestamp && isPodReady(p)) ? pods : undefined;
    },
    { what: `${count} Ready Pods of ${app}`, timeoutMs, intervalMs: 100 },
  );
}

/** The port a process-run Pod serves on (its annotation; containerPort is not it). */
export function portOf(pod: k8s.V1Pod): number {
  const port = Number(pod.metadata?.annotations?.[PORT_ANNOTATION]);
  assert.ok(Number.isInteger(port) && port > 0, `Pod ${pod.metadata?.name} has a port annotation`);
  return port;
}

/** Whether a process with this PID exists (signal 0 checks without sending anything). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Follows one Pod by name through a watch and keeps every version seen. */
export async function recordPod(sb: Sandbox, name: string) {
  const versions: k8s.V1Pod[] = [];
  let deleted = false;
  let failure: unknown;
  const watch = await new k8s.Watch(sb.kc).watch(
    '/api/v1/namespaces/default/pods',
    { fieldSelector: `metadata.name=${name}` },
    (type, pod: k8s.V1Pod) => {
      if (type === 'DELETED') deleted = true;
      else versions.push(pod);
    },
    (error) => (failure = error),
  );
  return {
    versions,
    deleted: () => deleted,
    stop: () => {
      watch.abort();
      assert.equal(failure ?? null, null, 'the watch ended early');
    },
  };
}
