/**
 * Requests on resources: /api/v1/... and /apis/<group>/<version>/..., namespaced or not, with
 * the status and scale subresources. Maps HTTP verbs and query parameters onto Resources.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest, methodNotAllowed, routeNotFound } from '../errors.ts';
import { patchResource, toScale, writeScale, PATCH_TYPES } from '../patch-resource.ts';
import { apiVersionOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import type { DeleteOptions, Resources } from '../resources.ts';
import { parseFieldSelector, parseLabelSelector } from '../selectors.ts';
import type { Store } from '../store.ts';
import { toTable } from '../table.ts';
import { serveWatch, type ActiveWatch } from '../watch.ts';
import { parseObjectBody, parseText, readBody, readBodyBytes, sendJson } from './http.ts';
import { checkDecoded } from '../own.ts';
import { jsonPatch, mergePatch } from '../patch.ts';
import { sendPodLog } from './pod-log.ts';
import { proxyToPod } from './proxy.ts';
import { strategyOf } from '../strategies.ts';
import { dryRunOf, fieldValidationOf, queryBool, queryInt, readVersionOf, type OptionsKind } from '../query.ts';

export interface ResourceRoute {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** pods/proxy: the path after `proxy/`. */
  proxyPath?: string;
}

export interface HandlerContext {
  registry: Registry;
  store: Store;
  resources: Resources;
  now: () => Date;
  watches: Set<ActiveWatch>;
  maxBodyBytes: number;
  bookmarkIntervalMs: number;
  maxWatchBufferedBytes: number;
  maxWatches: number;
  podUrl: (namespace: string, name: string, port?: string) => string | undefined;
  /** pods/log: the runner's log file of a container's current or previous run, if it keeps one. */
  podLogFile: (namespace: string, name: string, container: string, previous: boolean) => string | undefined;
  proxyTimeoutMs: number;
}

const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

/** Parses the path segments after `/api` or `/apis`; undefined when no resource matches. */
export function matchResource(registry: Registry, segments: string[]): ResourceRoute | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 3) [group, version, rest] = ['', segments[1], segments.slice(2)];
  else if (segments[0] === 'apis' && segments.length >= 4) [group, version, rest] = [segments[1], segments[2], segments.slice(3)];
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const type = registry.find(group, version, rest[2]);
    if (type?.kind === 'Pod' && rest[4] === 'proxy') return { type, namespace: rest[1], name: rest[3], subresource: 'proxy', proxyPath: rest.slice(5).join('/') };
    if (type?.namespaced && rest.length <= 5) return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
  }
  const type = registry.find(group, version, rest[0]);
  if (!type || rest.length > 3) return undefined;
  return { type, name: rest[1], subresource: rest[2] };
}

function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function defaultManager(req: IncomingMessage): string {
  const agent = req.headers['user-agent'];
  return agent ? agent.split('/')[0] : 'unknown';
}

export async function handleResource(ctx: HandlerContext, route: ResourceRoute, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
  const { type, namespace, name, subresource } = route;
  const method = req.method ?? 'GET';
  if (subresource === 'proxy' && route.proxyPath !== undefined && namespace !== undefined && name !== undefined) {
    const [podName, port] = name.split(':');
    ctx.resources.get(type, namespace, podName);
    const search = new URL(req.url ?? '/', 'http://sandbox').search;
    return proxyToPod(ctx.podUrl(namespace, podName, port), podName, route.proxyPath, search, req, res, ctx.proxyTimeoutMs);
  }
  if (subresource === 'log' && type.kind === 'Pod' && type.group === '' && namespace !== undefined && name !== undefined && method === 'GET') {
    const pod = ctx.resources.get(type, namespace, name);
    const containers: string[] = (pod.spec?.containers ?? []).map((c: KubeObject) => c.name);
    const container = query.get('container') ?? (containers.length === 1 ? containers[0] : undefined);
    if (container === undefined) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    return sendPodLog(ctx.podLogFile(namespace, name, container, query.get('previous') === 'true'), name, container, query, res);
  }
  if (subresource && !((subresource === 'status' && type.status) || (subresource === 'scale' && type.scale))) throw routeNotFound(req.url ?? '');
  if (type.namespaced && namespace === undefined && name !== undefined) throw routeNotFound(req.url ?? '');
  const optionsKind: OptionsKind = method === 'POST' ? 'CreateOptions' : method === 'PUT' ? 'UpdateOptions' : method === 'PATCH' ? 'PatchOptions' : 'DeleteOptions';
  const writing = method !== 'GET';
  const dryRun = writing && dryRunOf(query, optionsKind);
  const fieldManager = query.get('fieldManager') ?? undefined;
  const fieldValidation = writing && method !== 'DELETE' ? fieldValidationOf(query, optionsKind) : undefined;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    // Warning headers must be set before the body is written: each handler below sends once.
    res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
  };
  const present = (obj: KubeObject) => ctx.resources.present(type, obj);
  const now = ctx.now();

  if (name === undefined) {
    if (method === 'GET') return listOrWatch(ctx, route, req, res, query);
    if (method === 'POST') {
      if (type.namespaced && namespace === undefined) throw methodNotAllowed();
      const body = parseObjectBody(await readBodyBytes(req, ctx.maxBodyBytes), req.headers['content-type']);
      if (body?.metadata?.resourceVersion) {
        // What the storage layer answers (storage.ErrResourceVersionSetOnCreate, not mapped to a reason).
        throw new ApiError(500, '', 'resourceVersion should not be set on objects to be created');
      }
      const created = ctx.resources.create(type, namespace, body, { fieldManager: fieldManager ?? defaultManager(req), dryRun, fieldValidation, warn });
      return sendJson(res, 201, present(created));
    }
    if (method === 'DELETE') {
      const labels = parseLabelSelector(query.get('labelSelector'));
      const fields = parseFieldSelector(query.get('fieldSelector'), type.kind);
      const items = ctx.resources.list(type, namespace, {}).items.filter((o) => labels(o) && fields(o));
      const deleted = items.map((o) => ctx.resources.delete(type, o.metadata.namespace, o.metadata.name, { dryRun }));
      return sendJson(res, 200, { kind: type.listKind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(ctx.store.currentRv()) }, items: deleted.map(present) });
    }
    throw methodNotAllowed();
  }

  if (method === 'GET') {
    readVersionOf(query, ctx.store.currentRv());
    const obj = ctx.resources.get(type, namespace, name);
    if (subresource === 'scale') return sendJson(res, 200, toScale(type, obj));
    if (wantsTable(req.headers.accept)) {
      return sendJson(res, 200, toTable(type, [present(obj)], { resourceVersion: obj.metadata.resourceVersion }, query.get('includeObject'), now), TABLE_CONTENT_TYPE);
    }
    return sendJson(res, 200, present(obj));
  }
  if (method === 'PUT') {
    const body = parseObjectBody(await readBodyBytes(req, ctx.maxBodyBytes), req.headers['content-type']);
    const options = { fieldManager: fieldManager ?? defaultManager(req), dryRun, subresource, fieldValidation, warn };
    if (subresource === 'scale') return sendJson(res, 200, writeScale(ctx.resources, type, namespace, name, () => body, options));
    const { object, created } = ctx.resources.update(type, namespace, name, body, options);
    return sendJson(res, created ? 201 : 200, present(object));
  }
  if (method === 'PATCH') {
    const raw = await readBody(req, ctx.maxBodyBytes);
    const contentType = req.headers['content-type'] ?? '';
    const force = queryBool(query, 'force');
    const isApply = contentType.startsWith(PATCH_TYPES.apply) || contentType.startsWith('application/apply-patch');
    const options = { fieldManager: fieldManager ?? (isApply ? undefined : defaultManager(req)), dryRun, subresource, force, fieldValidation, warn };
    if (subresource === 'scale') {
      const change = (scale: KubeObject) => {
        const patch = parseText(raw, false, 'error decoding patch');
        checkDecoded(patch);
        if (contentType.startsWith(PATCH_TYPES.json)) return jsonPatch(scale, patch);
        if (contentType.startsWith(PATCH_TYPES.merge) || contentType.startsWith(PATCH_TYPES.strategic)) return mergePatch(scale, patch);
        throw badRequest(`unsupported patch type for /scale: ${contentType}`);
      };
      return sendJson(res, 200, writeScale(ctx.resources, type, namespace, name, change, options));
    }
    const { object, created } = patchResource(ctx.resources, type, namespace, name, contentType, raw, options, now);
    return sendJson(res, created ? 201 : 200, present(object));
  }
  if (method === 'DELETE') {
    if (subresource) throw methodNotAllowed();
    const raw = await readBody(req, ctx.maxBodyBytes);
    const body = raw.trim() ? parseObjectBody(raw, req.headers['content-type']) : {};
    const policy = query.get('propagationPolicy') ?? body.propagationPolicy;
    if (policy !== undefined && policy !== null && !['Foreground', 'Background', 'Orphan'].includes(policy)) {
      throw badRequest(`propagationPolicy must be one of Foreground, Background, Orphan; got ${JSON.stringify(policy)}`);
    }
    const graceText = query.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
    const gracePeriodSeconds = graceText === undefined || graceText === null ? undefined : Number(graceText);
    if (gracePeriodSeconds !== undefined && !(Number.isInteger(gracePeriodSeconds) && gracePeriodSeconds >= 0)) {
      throw badRequest(`gracePeriodSeconds must be a non-negative integer; got ${JSON.stringify(graceText)}`);
    }
    const options: DeleteOptions = { propagationPolicy: policy ?? undefined, gracePeriodSeconds, preconditions: body.preconditions, dryRun: dryRun || (Array.isArray(body.dryRun) && body.dryRun.includes('All')) };
    const result = ctx.resources.delete(type, namespace, name, options);
    const removed = options.dryRun ? !result.metadata.deletionTimestamp : !ctx.resources.tryGet(type, namespace, name);
    // handlers/delete.go: 202 only for a deletion still pending when orphanDependents=false was
    // asked for; a removed object is answered with itself only where the store says so.
    const orphanDependents = query.get('orphanDependents') ?? body.orphanDependents;
    const status = !removed && (orphanDependents === false || orphanDependents === 'false') ? 202 : 200;
    if (removed && !strategyOf(type).returnsDeletedObject) {
      return sendJson(res, status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: type.group, kind: type.plural, uid: result.metadata.uid } });
    }
    return sendJson(res, status, present(result));
  }
  throw methodNotAllowed();
}

function listOrWatch(ctx: HandlerContext, route: ResourceRoute, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
  const { type, namespace } = route;
  const present = (obj: KubeObject) => ctx.resources.present(type, obj);
  const version = readVersionOf(query, ctx.store.currentRv());
  if (queryBool(query, 'watch')) {
    if (ctx.watches.size >= ctx.maxWatches) {
      throw new ApiError(429, 'TooManyRequests', `too many open watches (maxWatches ${ctx.maxWatches}); retry later`, { retryAfterSeconds: 1 }, { 'Retry-After': '1' });
    }
    const labels = parseLabelSelector(query.get('labelSelector'));
    const fields = parseFieldSelector(query.get('fieldSelector'), type.kind);
    const timeoutSeconds = queryInt(query, 'timeoutSeconds');
    serveWatch(
      ctx.store,
      res,
      {
        type,
        namespace,
        matches: (o) => labels(o) && fields(o),
        resourceVersion: version.rv === 0 ? undefined : String(version.rv),
        timeoutSeconds,
        allowBookmarks: queryBool(query, 'allowWatchBookmarks'),
        bookmarkIntervalMs: ctx.bookmarkIntervalMs,
        maxBufferedBytes: ctx.maxWatchBufferedBytes,
        present,
        asTable: wantsTable(req.headers.accept)
          ? (obj) => toTable(type, [obj], { resourceVersion: obj.metadata.resourceVersion }, query.get('includeObject'), ctx.now())
          : undefined,
      },
      ctx.watches,
    );
    return;
  }
  const limit = queryInt(query, 'limit');
  if (version.match === 'Exact' && version.rv !== ctx.store.currentRv()) {
    // Only the current state is kept: an exact read of an earlier version cannot be served.
    throw new ApiError(410, 'Expired', `The resourceVersion for the provided list is too old. (this server keeps no earlier snapshot than ${ctx.store.currentRv()})`);
  }
  const result = ctx.resources.list(type, namespace, {
    labelSelector: query.get('labelSelector'),
    fieldSelector: query.get('fieldSelector'),
    limit,
    continueToken: query.get('continue'),
  });
  const meta = { resourceVersion: result.resourceVersion, ...(result.continueToken ? { continue: result.continueToken, remainingItemCount: result.remainingItemCount } : {}) };
  if (wantsTable(req.headers.accept)) {
    return sendJson(res, 200, toTable(type, result.items.map(present), { resourceVersion: meta.resourceVersion, continue: result.continueToken }, query.get('includeObject'), ctx.now()), TABLE_CONTENT_TYPE);
  }
  // Typed lists of built-in kinds encode their items without kind/apiVersion; custom resource
  // lists (unstructured) keep them.
  const items = type.schema ? result.items.map(present) : result.items.map((o) => {
    const { kind: _k, apiVersion: _a, ...rest } = present(o);
    return rest;
  });
  sendJson(res, 200, { kind: type.listKind, apiVersion: apiVersionOf(type), metadata: meta, items });
}

