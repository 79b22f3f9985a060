/**
 * `/_sandbox/...`: the fault switches and request counters over HTTP (token-protected like the
 * API), so kubectl-driven demos and other processes can use them.
 *   POST /_sandbox/faults/drop-watches
 *   POST /_sandbox/faults/stall-watches
 *   POST /_sandbox/faults/fail-next   {"n": 3, "status": 503, "retryAfterSeconds": 1}
 *   POST /_sandbox/faults/latency     {"ms": 200}
 *   POST /_sandbox/faults/refuse      {"seconds": 5}   (listens again after that long)
 *   POST /_sandbox/faults/forbid      {"rules": [{"verb": "get", "resource": "secrets", "namespace": "tenants", "name": "auth"}]}
 *                                     (403 as RBAC words it; {"rules": []} clears)
 *   GET  /_sandbox/requests?method=PATCH&writesOnly=true
 *   GET  /_sandbox/watches            {"counts": {"deployments.apps": 1, …}}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, methodNotAllowed, routeNotFound } from '../errors.ts';
import type { ForbidRule } from '../faults.ts';
import type { ApiServerFaults } from '../server.ts';
import { parseObjectBody, readBody, sendJson } from './http.ts';

export interface SandboxControls {
  faults: ApiServerFaults;
  requestCount(filter?: { method?: string; writesOnly?: boolean }): number;
  watchCount(): Record<string, number>;
  refuseFor(seconds: number): void;
}

const MAX_CONTROL_BODY_BYTES = 64 * 1024;

export async function handleSandbox(segments: string[], req: IncomingMessage, res: ServerResponse, query: URLSearchParams, controls: SandboxControls): Promise<void> {
  const path = segments.join('/');
  if (path === 'requests') {
    if (req.method !== 'GET') throw methodNotAllowed();
    const count = controls.requestCount({ method: query.get('method') ?? undefined, writesOnly: query.get('writesOnly') === 'true' });
    return sendJson(res, 200, { count });
  }
  if (path === 'watches') {
    if (req.method !== 'GET') throw methodNotAllowed();
    return sendJson(res, 200, { counts: controls.watchCount() });
  }
  if (segments[0] !== 'faults') throw routeNotFound(`/_sandbox/${path}`);
  if (req.method !== 'POST') throw methodNotAllowed();
  const raw = await readBody(req, MAX_CONTROL_BODY_BYTES);
  const body = raw.trim() ? parseObjectBody(raw, 'application/json') : {};
  try {
    switch (segments[1]) {
      case 'drop-watches':
        controls.faults.dropWatches();
        break;
      case 'stall-watches':
        controls.faults.stallWatches();
        break;
      case 'fail-next':
        controls.faults.failNext(Number(body.n), Number(body.status) as 429 | 500 | 503, body.retryAfterSeconds === undefined ? undefined : Number(body.retryAfterSeconds));
        break;
      case 'latency':
        controls.faults.setLatency(Number(body.ms));
        break;
      case 'forbid':
        if (!Array.isArray(body.rules)) throw new RangeError('forbid needs {"rules": [{"verb", "resource", "namespace"?, "name"?}]}');
        controls.faults.forbid(body.rules as ForbidRule[]);
        break;
      case 'refuse':
        if (!(Number(body.seconds) > 0)) throw new RangeError('refuse needs {"seconds": N} with N > 0: the server cannot be reached to switch it back');
        // Answer first: the listener closes right after.
        res.on('finish', () => controls.refuseFor(Number(body.seconds)));
        sendJson(res, 200, { ok: true });
        return;
      default:
        throw routeNotFound(`/_sandbox/${path}`);
    }
  } catch (error) {
    if (error instanceof RangeError) throw badRequest(error.message);
    throw error;
  }
  sendJson(res, 200, { ok: true });
}
