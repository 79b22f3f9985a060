/**
 * The pods/proxy subresource: /api/v1/namespaces/<ns>/pods/<name>[:port]/proxy/<path>, forwarded
 * over HTTP to the address the PodRunner gave the Pod (the operator reads gateway /loadz this
 * way). A Pod without an address, or one that does not answer, is 503 as on a real cluster.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { ApiError } from '../errors.ts';

export function proxyToPod(base: string | undefined, podName: string, path: string, search: string, req: IncomingMessage, res: ServerResponse, timeoutMs: number): Promise<void> {
  if (!base) return Promise.reject(new ApiError(503, 'ServiceUnavailable', `error trying to reach service: pod "${podName}" has no address (its runner does not serve HTTP)`));
  const target = new URL(`${base.replace(/\/$/, '')}/${path}${search}`);
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: target.host };
    // The cluster token stays with the API server.
    delete headers.authorization;
    const upstream = request(target, { method: req.method, headers, timeout: timeoutMs }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
      response.on('end', () => resolve());
      response.on('error', reject);
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    upstream.on('error', (error) => reject(new ApiError(503, 'ServiceUnavailable', `error trying to reach service: ${error.message}`)));
    req.pipe(upstream);
  });
}
