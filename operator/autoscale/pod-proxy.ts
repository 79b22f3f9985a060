/**
 * Requests to a gateway pod through its region's API server (`pods/proxy`): the operator's one
 * way to reach pods in every region without a network path to them or credentials in them.
 *
 * Any HTTP answer, even the API server's 503 for a pod that does not answer, proves the region
 * reachable: the call resolves with the status and only a missing answer (refused, timed out)
 * counts against the region's health. A pod that is down is the autoscaler's business, not a
 * sign that the region is dark.
 */
import type { RegionClient } from '../types.ts';

export interface ProxyAnswer {
  status: number;
  text: string;
}

export interface ProxyRequest {
  namespace: string;
  pod: string;
  /** Path on the pod, without a leading slash (`loadz`, `v1/admin/shed`). */
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
}

/** The API path of `path` on a pod, through the pods/proxy subresource. */
export function proxyPath(namespace: string, pod: string, path: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/proxy/${path}`;
}

export async function podProxy(client: RegionClient, request: ProxyRequest): Promise<ProxyAnswer> {
  const path = proxyPath(request.namespace, request.pod, request.path);
  return client.call(async (signal) => {
    const { status, text } = await client.kube.send(request.method ?? 'GET', path, { headers: request.headers, body: request.body, accept: '*/*', timeoutMs: request.timeoutMs, signal });
    return { status, text };
  }, request.timeoutMs);
}
