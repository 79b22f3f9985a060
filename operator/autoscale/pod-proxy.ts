/**
 * Requests to a gateway pod through its region's API server (`pods/proxy`): the operator's one
 * way to reach pods in every region without a network path to them or credentials in them.
 *
 * Any HTTP answer, even the API server's 503 for a pod that does not answer, proves the region
 * reachable: the call resolves with the status and only a missing answer (refused, timed out)
 * counts against the region's health. A pod that is down is the autoscaler's business, not a
 * sign that the region is dark.
 */
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from '@kubernetes/client-node';
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

/** The http library client-node's generated APIs use, so TLS and credentials work alike. */
const http = new IsomorphicFetchHttpLibrary();

export function proxyUrl(server: string, namespace: string, pod: string, path: string): string {
  return `${server.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/proxy/${path}`;
}

export async function podProxy(client: RegionClient, request: ProxyRequest): Promise<ProxyAnswer> {
  const server = client.kubeConfig.getCurrentCluster()?.server ?? '';
  const context = new RequestContext(proxyUrl(server, request.namespace, request.pod, request.path), request.method === 'POST' ? HttpMethod.POST : HttpMethod.GET);
  for (const [name, value] of Object.entries(request.headers ?? {})) context.setHeaderParam(name, value);
  if (request.body !== undefined) {
    context.setHeaderParam('content-type', 'application/json');
    context.setBody(JSON.stringify(request.body));
  }
  context.setSignal(AbortSignal.timeout(request.timeoutMs));
  await client.kubeConfig.applySecurityAuthentication(context);
  return client.call(async () => {
    const response = await http.send(context).toPromise();
    return { status: response.httpStatusCode, text: await response.body.text() };
  }, request.timeoutMs);
}
