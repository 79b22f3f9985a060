/** Non-resource endpoints: version, discovery, OpenAPI v3 and health. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { AGGREGATED_CONTENT_TYPE, aggregated, coreVersions, group, groupList, resourceList, versionInfo, wantsAggregated } from '../discovery.ts';
import { routeNotFound } from '../errors.ts';
import { openapiDocument, openapiIndex } from '../openapi.ts';
import type { Registry } from '../registry.ts';
import { sendJson } from './http.ts';

/** Handles the request and returns true when the path is a non-resource endpoint. */
export function handleMeta(registry: Registry, serverAddress: string, segments: string[], req: IncomingMessage, res: ServerResponse): boolean {
  const path = `/${segments.join('/')}`;
  const accept = req.headers.accept;
  if (req.method !== 'GET') return false;
  if (path === '/version') return reply(res, versionInfo());
  if (path === '/healthz' || path === '/readyz' || path === '/livez') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return true;
  }
  if (path === '/api') return wantsAggregated(accept) ? reply(res, aggregated(registry, true), AGGREGATED_CONTENT_TYPE) : reply(res, coreVersions(serverAddress));
  if (path === '/apis') return wantsAggregated(accept) ? reply(res, aggregated(registry, false), AGGREGATED_CONTENT_TYPE) : reply(res, groupList(registry));
  if (segments[0] === 'api' && segments.length === 2) {
    if (!registry.groups().get('')?.includes(segments[1])) throw routeNotFound(path);
    return reply(res, resourceList(registry, '', segments[1]));
  }
  if (segments[0] === 'apis' && segments.length === 2) {
    const doc = group(registry, segments[1]);
    if (!doc) throw routeNotFound(path);
    return reply(res, doc);
  }
  if (segments[0] === 'apis' && segments.length === 3) {
    if (!registry.groups().get(segments[1])?.includes(segments[2])) throw routeNotFound(path);
    return reply(res, resourceList(registry, segments[1], segments[2]));
  }
  if (segments[0] === 'openapi' && segments[1] === 'v3') {
    if (segments.length === 2) return reply(res, openapiIndex(registry, hashOf(registry)));
    const [kind, ...rest] = segments.slice(2);
    const [groupName, version] = kind === 'api' ? ['', rest[0]] : [rest[0], rest[1]];
    const doc = openapiDocument(registry, groupName ?? '', version ?? '');
    if (!doc) throw routeNotFound(path);
    return reply(res, doc);
  }
  if (segments[0] === 'openapi' && segments[1] === 'v2') throw routeNotFound(path);
  return false;
}

function reply(res: ServerResponse, body: unknown, contentType?: string): true {
  sendJson(res, 200, body, contentType);
  return true;
}

function hashOf(registry: Registry): string {
  const names = registry.all().map((t) => `${t.group}/${t.version}/${t.plural}/${t.crdName ?? ''}`).sort().join(',');
  return createHash('sha256').update(names).digest('hex').slice(0, 16).toUpperCase();
}
