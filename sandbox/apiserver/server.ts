/**
 * One emulated cluster: storage, registry, controllers and the HTTP listener with bearer-token
 * auth and fault injection. `startApiServer` is the whole programmatic surface.
 */
import type { Logger } from 'pino';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { builtinTypes } from './builtins.ts';
import { unsupportedCelRules } from './cel-rules.ts';
import { CrdController, validateCrd } from './controllers/crds.ts';
import { GarbageCollector } from './controllers/garbage-collector.ts';
import { delayedReadyRunner, PodController, type PodRunner } from './controllers/pods.ts';
import { processRunner, type ProcessRunnerOptions } from './controllers/process-runner.ts';
import { WorkloadControllers } from './controllers/workloads.ts';
import { ApiError, badRequest, rbacForbidden, routeNotFound, unauthorized } from './errors.ts';
import { RequestFaults, type ForbidRule, type Verb } from './faults.ts';
import { sendError } from './handlers/http.ts';
import { handleMeta } from './handlers/meta-handler.ts';
import { handleResource, matchResource, type HandlerContext } from './handlers/resource-handler.ts';
import { handleSandbox } from './handlers/sandbox-handler.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { Registry } from './registry.ts';
import { Resources } from './resources.ts';
import { Store } from './store.ts';
import { restoreSnapshot, writeSnapshot } from './snapshot.ts';
import { selfSignedCertificate } from './tls.ts';
import type { ActiveWatch } from './watch.ts';

export interface ApiServerOptions {
  /** 0 (default): a free port. */
  port?: number;
  host?: string;
  /** Cluster, context and user name in the kubeconfig (e.g. 'us-east1'); default `sandbox-<port>`. */
  name?: string;
  /** The bearer token required on every request; default: random. */
  token?: string;
  /**
   * Serve HTTPS with a self-signed certificate (needs `openssl`). kubectl sends the token only
   * over TLS, so kubectl needs this; @kubernetes/client-node works either way. Default false.
   */
  tls?: boolean;
  /** Runs the Pods; overrides `kubelet`. */
  podRunner?: PodRunner;
  /**
   * Which runner to use when `podRunner` is not given: 'delayed' (default) reports every Pod Ready
   * after `readyDelayMs`; 'process' runs gateway Pods as real processes (docs/sandbox.md).
   */
  kubelet?: 'delayed' | 'process';
  /** Options of the process runner (`kubelet: 'process'`). */
  processRunner?: ProcessRunnerOptions;
  /** The default runner reports Pods Ready after this long. */
  readyDelayMs?: number;
  /** Change events kept for watches that resume from a resourceVersion; older ones get 410. */
  watchHistory?: number;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK. */
  bookmarkIntervalMs?: number;
  maxBodyBytes?: number;
  /** A watch whose unsent bytes pass this is closed. */
  maxWatchBufferedBytes?: number;
  /** Open watches at once; one more is refused with 429 TooManyRequests. */
  maxWatches?: number;
  /** Delay before a failed controller step is retried. */
  controllerRetryDelayMs?: number;
  /** pods/proxy requests give up after this long without an answer. */
  proxyTimeoutMs?: number;
  logger?: Logger;
  /**
   * Keep the objects across restarts: read from this file at start (if it exists) and written
   * to it at close(). Pods are not kept (their processes end with the emulator); their
   * ReplicaSets make new ones. Default: nothing kept.
   */
  stateFile?: string;
}

export type FailureStatus = 429 | 500 | 503;

export interface ApiServerFaults {
  /** Ends every open watch abruptly (the socket is destroyed). */
  dropWatches(): void;
  /**
   * Half-open connections: every watch open now stays open but receives nothing more (no
   * events, no bookmarks), as behind a dead NAT entry. New watches are not affected.
   */
  stallWatches(): void;
  /** The next `n` API requests fail with `status` (and Retry-After when given). */
  failNext(n: number, status: FailureStatus, retryAfterSeconds?: number): void;
  /** Every API request waits this long first. */
  setLatency(ms: number): void;
  /** Requests matching a rule are refused with 403 as RBAC refuses them (replaces the rules; `[]` clears). */
  forbid(rules: readonly ForbidRule[]): void;
  /** A region going dark: stop listening and cut every connection; `false` listens again on the same port. */
  refuseConnections(on: boolean): Promise<void>;
}

export interface ApiServerHandle {
  url: string;
  port: number;
  name: string;
  kubeconfig(): string;
  writeKubeconfig(file: string): Promise<void>;
  faults: ApiServerFaults;
  /** Requests received (after authentication; /_sandbox excluded). */
  requestCount(filter?: { method?: string; writesOnly?: boolean }): number;
  /** Watches open now, per resource (`deployments.apps`, `configmaps`). */
  watchCount(): Record<string, number>;
  close(): Promise<void>;
}

const DEFAULTS = {
  host: '127.0.0.1',
  readyDelayMs: 200,
  watchHistory: 1000,
  bookmarkIntervalMs: 10_000,
  maxBodyBytes: 3 * 1024 * 1024,
  maxWatchBufferedBytes: 16 * 1024 * 1024,
  maxWatches: 1000,
  controllerRetryDelayMs: 500,
  proxyTimeoutMs: 10_000,
};

const KUBELETS: ReadonlyArray<string> = ['delayed', 'process'];
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SEED_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServerHandle> {
  const config = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & ApiServerOptions;
  const logger = config.logger;
  const token = config.token ?? randomBytes(24).toString('base64url');
  const now = () => new Date();
  const onError = (error: unknown) => logger?.error({ err: error instanceof Error ? error.message : String(error) }, 'sandbox controller step failed');

  const registry = new Registry();
  for (const type of builtinTypes()) {
    if (type.kind === 'CustomResourceDefinition') type.validate = (o) => [...validateCrd(o), ...unsupportedCelRules(o)].map((c) => ({ field: c.field ?? '', message: c.message }));
    registry.add(type);
  }
  const store = new Store(config.watchHistory);
  let gc: GarbageCollector | undefined;
  const resources = new Resources({ store, registry, now, onDeletion: () => gc?.schedule() });
  const deps = { registry, store, resources, now, onError };
  gc = new GarbageCollector(deps, { retryDelayMs: config.controllerRetryDelayMs });
  new CrdController(deps);
  if (config.kubelet !== undefined && !KUBELETS.includes(config.kubelet)) throw new Error(`kubelet must be one of ${KUBELETS.join(', ')}; got ${JSON.stringify(config.kubelet)}`);
  const delayed = delayedReadyRunner(config.readyDelayMs);
  const runner = config.podRunner ?? (config.kubelet === 'process' ? processRunner({ logger, fallback: delayed, ...config.processRunner }) : delayed);
  const pods = new PodController(deps, runner);
  const workloads = new WorkloadControllers(deps, config.controllerRetryDelayMs);
  if (config.stateFile) {
    const restored = await restoreSnapshot(store, config.stateFile);
    logger?.info({ file: config.stateFile, objects: restored }, 'sandbox state restored');
  }
  const nsType = registry.find('', 'v1', 'namespaces')!;
  for (const name of SEED_NAMESPACES) {
    if (!store.get('/namespaces', undefined, name)) resources.create(nsType, undefined, { metadata: { name } }, { fieldManager: 'kube-apiserver' });
  }

  const faults = new RequestFaults();
  const watches = new Set<ActiveWatch>();
  const sockets = new Set<Socket>();
  /** Requests per method: a count, not a log, so a long-lived emulator does not grow with use. */
  const counts = new Map<string, number>();
  const ctx: HandlerContext = {
    registry,
    store,
    resources,
    now,
    watches,
    maxBodyBytes: config.maxBodyBytes,
    bookmarkIntervalMs: config.bookmarkIntervalMs,
    maxWatchBufferedBytes: config.maxWatchBufferedBytes,
    maxWatches: config.maxWatches,
    podUrl: (namespace, name, port) => pods.urlOf(namespace, name, port),
    podLogFile: (namespace, name, container, previous) => pods.logFileOf(namespace, name, container, previous),
    proxyTimeoutMs: config.proxyTimeoutMs,
  };

  let port = config.port ?? 0;
  let refusing = false;
  let refuseTimer: NodeJS.Timeout | undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      // handle() answers its own errors; reaching here means answering failed too.
      logger?.error({ method: req.method, err: error instanceof Error ? error.message : String(error) }, 'request handler failed');
      res.destroy();
    });
  };
  const server = config.tls ? createTlsServer({ ...selfSignedCertificate(), keepAlive: true }, onRequest) : createServer({ keepAlive: true }, onRequest);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Requests the HTTP parser refuses never reach a handler. Answer them as Go's net/http (which
  // serves kube-apiserver) does: a plain-text status line as the body, then close.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${status}`);
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.host, () => {
        server.off('error', reject);
        const address = server.address();
        if (address && typeof address === 'object') port = address.port;
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const watch of [...watches]) watch.drop();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const handleFaults: ApiServerFaults = {
    dropWatches: () => {
      for (const watch of [...watches]) watch.drop();
    },
    stallWatches: () => {
      for (const watch of watches) watch.stall();
    },
    failNext: (n, status, retryAfterSeconds) => faults.failNext(n, status, retryAfterSeconds),
    setLatency: (ms) => faults.setLatency(ms),
    forbid: (rules) => faults.forbid(rules),
    refuseConnections: async (on) => {
      clearTimeout(refuseTimer);
      if (on === refusing) return;
      refusing = on;
      if (on) await stopListening();
      else await listen();
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The parser accepts targets `new URL` refuses (`GET //[`); outside the try that was an
    // unhandled rejection, which ends the process.
    const parsed = URL.parse(req.url ?? '/', 'http://sandbox');
    const url = parsed ?? new URL('http://sandbox/');
    try {
      if (!isBearer(req.headers.authorization, token)) throw unauthorized();
      if (!parsed) throw badRequest('the request target is not a valid URL');
      const segments = url.pathname.split('/').filter(Boolean).map(decodeSegment);
      if (segments[0] === '_sandbox') {
        await handleSandbox(segments.slice(1), req, res, url.searchParams, {
          faults: handleFaults,
          requestCount,
          watchCount,
          refuseFor: (seconds) => {
            handleFaults
              .refuseConnections(true)
              .then(() => {
                refuseTimer = setTimeout(() => void handleFaults.refuseConnections(false).catch(onError), seconds * 1000);
              })
              .catch(onError);
          },
        });
        return;
      }
      const method = req.method ?? 'GET';
      counts.set(method, (counts.get(method) ?? 0) + 1);
      if (faults.latency() > 0) await new Promise((r) => setTimeout(r, faults.latency()));
      const failure = faults.take();
      if (failure) throw failure;
      if (handleMeta(registry, `${config.host}:${port}`, segments, req, res)) return;
      const route = matchResource(registry, segments);
      if (!route) throw routeNotFound(url.pathname);
      const verb = verbOf(method, route.name, url.searchParams);
      if (faults.forbids(verb, route.type.plural, route.namespace, route.name)) throw rbacForbidden(userName(), verb, route.type, route.namespace, route.name);
      await handleResource(ctx, route, req, res, url.searchParams);
    } catch (error) {
      if (error instanceof ApiError) {
        logger?.debug({ method: req.method, path: url.pathname, code: error.code, reason: error.reason }, 'request failed');
        sendError(res, error);
      } else {
        logger?.error({ method: req.method, path: url.pathname, err: error instanceof Error ? error.stack : String(error) }, 'internal error');
        sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`));
      }
    } finally {
      logger?.debug({ method: req.method, path: url.pathname, status: res.statusCode }, 'request');
    }
  }

  /** The kubeconfig's cluster, context and user name: 403s name the user, as RBAC names the caller. */
  function userName(): string {
    return config.name ?? `sandbox-${port}`;
  }

  function watchCount(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const watch of watches) counts[watch.resource] = (counts[watch.resource] ?? 0) + 1;
    return counts;
  }

  function requestCount(filter: { method?: string; writesOnly?: boolean } = {}): number {
    let total = 0;
    for (const [method, count] of counts) {
      if ((!filter.method || method === filter.method.toUpperCase()) && (!filter.writesOnly || WRITE_METHODS.has(method))) total += count;
    }
    return total;
  }

  await listen();
  const clusterName = userName();
  const url = `${config.tls ? 'https' : 'http'}://${config.host}:${port}`;
  logger?.info({ url, name: clusterName }, 'sandbox apiserver listening');
  return {
    url,
    port,
    name: clusterName,
    kubeconfig: () => kubeconfigYaml(clusterName, url, token),
    writeKubeconfig: (file) => writeFile(file, kubeconfigYaml(clusterName, url, token), { mode: 0o600 }),
    faults: handleFaults,
    requestCount,
    watchCount,
    async close() {
      clearTimeout(refuseTimer);
      if (config.stateFile) {
        const saved = await writeSnapshot(store, config.stateFile, now());
        logger?.info({ file: config.stateFile, objects: saved }, 'sandbox state saved');
      }
      gc?.stop();
      workloads.stop();
      await pods.stop();
      if (!refusing) await stopListening();
      refusing = true;
    },
  };
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Constant-time token check; hashing first gives equal lengths, so the length does not leak either. */
function isBearer(header: string | undefined, token: string): boolean {
  return timingSafeEqual(sha256(header ?? ''), sha256(`Bearer ${token}`));
}

/** The RBAC verb of a request: a GET is get, list or watch; a DELETE without a name is deletecollection. */
function verbOf(method: string, name: string | undefined, query: URLSearchParams): Verb {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (name) return 'get';
      return query.get('watch') === 'true' || query.get('watch') === '1' ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    default:
      return name ? 'delete' : 'deletecollection';
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // URIError says nothing more than this message does; the reply names the segment.
    throw badRequest(`the path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}
