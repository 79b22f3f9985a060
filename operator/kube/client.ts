/**
 * KubeClient: a small REST client for one cluster and user (one resolved kubeconfig context).
 *
 * - One keep-alive connection pool (a node:http or node:https Agent) per client: every call and
 *   watch of this cluster and user shares it. It is made on first use (`agentCount` says whether)
 *   and closed by close(). An exec plugin that hands out a new client certificate gets a new pool.
 * - Bodies are JSON; answers are parsed JSON, returned as they came (no model classes: objects
 *   are typed with `import type` from @kubernetes/client-node, which is never loaded at run time).
 * - Any status outside 2xx rejects with KubeApiError (statusCode, parsed Status body, headers); no
 *   answer at all rejects with Node's own error (ECONNREFUSED, AbortError …). A 401 with
 *   credentials that can change (exec plugin, token file) is tried once more with fresh ones
 *   (not when it came from a pod through pods/proxy: that 401 is the pod's, not the API server's).
 * - Every call takes an AbortSignal and/or a timeoutMs; a call that names no timeout gets
 *   requestTimeoutMs (watches excepted: they last, and the informer's watchdog judges them).
 *   Waiting for credentials (an exec plugin) counts against the same signal and timeout.
 * - The server may be hostile (a region's kubeconfig comes from a tenant's Secret): a response
 *   body is capped at maxResponseBytes and one watch event at maxWatchLineBytes; either limit
 *   closes the connection with a KubeClientError.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { KubernetesObject } from '@kubernetes/client-node';
import { defaultKubeconfigPath, inClusterTarget, parseServer, loadKubeconfigFile, parseKubeconfig, type KubeTarget, type ParseOptions } from './config.ts';
import { CredentialSource, type CredentialOptions, type Credentials } from './credentials.ts';
import { KubeApiError, KubeClientError, type KubeStatus } from './errors.ts';
import { collectionPath, groupVersionPath, knownResource, objectPath, type ResourceInfo } from './resources.ts';
import { readWatchStream, type WatchHandler } from './watch.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
  contentType?: string;
  accept?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export const PATCH_CONTENT_TYPES = Object.freeze({
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
});
export type PatchType = keyof typeof PATCH_CONTENT_TYPES;

/** What names one object: apiVersion, kind, metadata.name and (for namespaced kinds) metadata.namespace. */
export type ObjectHeader = Pick<KubernetesObject, 'apiVersion' | 'kind'> & { metadata?: { name?: string; namespace?: string } };

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WriteOptions {
  fieldManager?: string;
  /** Server-side apply: take fields other managers own. */
  force?: boolean;
  /** e.g. 'status'. */
  subresource?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WatchQuery {
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  labelSelector?: string;
  fieldSelector?: string;
}

const USER_AGENT = 'meridian-operator';

export const KUBE_CLIENT_DEFAULTS = Object.freeze({
  /** Bytes one response body may have; more closes the connection (KUBE_RESPONSE_TOO_LARGE). */
  maxResponseBytes: 64 * 1024 * 1024,
  /** Bytes one watch event (one line) may have; more ends the watch (KUBE_WATCH_LINE_TOO_LARGE). */
  maxWatchLineBytes: 16 * 1024 * 1024,
  /** A call that names no timeoutMs is aborted after this long (0: never). Watches are not. */
  requestTimeoutMs: 60_000,
  /** Connections the pool opens to the server at most; further requests queue (within their timeout). */
  maxSockets: 256,
});

export interface KubeClientOptions extends CredentialOptions {
  maxResponseBytes?: number;
  maxWatchLineBytes?: number;
  requestTimeoutMs?: number;
  maxSockets?: number;
}

/** A path through the pods/proxy (or services/proxy) subresource: the answer is a workload's, not the API server's. */
const PROXY_PATH = /^\/api\/v1\/namespaces\/[^/]+\/(pods|services)\/[^/]+\/proxy(\/|$)/;

export class KubeClient {
  readonly target: KubeTarget;
  readonly #credentials: CredentialSource;
  #agent: http.Agent | undefined;
  #agentCert: string | undefined;
  #agentsMade = 0;
  readonly #discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();
  readonly #options: Required<Omit<KubeClientOptions, keyof CredentialOptions>>;
  /** The server, parsed once: API paths are joined onto its pathname. */
  readonly #base: URL;
  #closed = false;

  constructor(target: KubeTarget, options: KubeClientOptions = {}) {
    this.target = target;
    this.#base = new URL(parseServer(target.server));
    const { maxResponseBytes, maxWatchLineBytes, requestTimeoutMs, maxSockets, ...credentialOptions } = options;
    this.#options = {
      maxResponseBytes: maxResponseBytes ?? KUBE_CLIENT_DEFAULTS.maxResponseBytes,
      maxWatchLineBytes: maxWatchLineBytes ?? KUBE_CLIENT_DEFAULTS.maxWatchLineBytes,
      requestTimeoutMs: requestTimeoutMs ?? KUBE_CLIENT_DEFAULTS.requestTimeoutMs,
      maxSockets: maxSockets ?? KUBE_CLIENT_DEFAULTS.maxSockets,
    };
    this.#credentials = new CredentialSource(target.auth, credentialOptions);
  }

  static fromFile(file: string, options?: Omit<ParseOptions, 'baseDir'>, clientOptions?: KubeClientOptions): KubeClient {
    return new KubeClient(loadKubeconfigFile(file, options), clientOptions);
  }

  static fromString(text: string, options?: ParseOptions, clientOptions?: KubeClientOptions): KubeClient {
    return new KubeClient(parseKubeconfig(text, options), clientOptions);
  }

  /** $KUBECONFIG, else ~/.kube/config. */
  static fromDefault(env: NodeJS.ProcessEnv = process.env, clientOptions?: KubeClientOptions): KubeClient {
    return KubeClient.fromFile(defaultKubeconfigPath(env), undefined, clientOptions);
  }

  static inCluster(env: NodeJS.ProcessEnv = process.env, clientOptions?: KubeClientOptions): KubeClient {
    return new KubeClient(inClusterTarget(env), clientOptions);
  }

  get server(): string {
    return this.target.server;
  }

  /** The context's namespace (used for namespaced objects that name none). */
  get namespace(): string {
    return this.target.namespace;
  }

  /** Connection pools made so far (0 before the first request, then 1). */
  get agentCount(): number {
    return this.#agentsMade;
  }

  /** Closes the connection pool and its connections (a request still in flight fails); later requests are refused (KUBE_CLIENT_CLOSED). */
  async close(): Promise<void> {
    this.#closed = true;
    const agent = this.#agent;
    this.#agent = undefined;
    agent?.destroy();
  }

  // ---- requests ----

  /** A request whose answer is parsed JSON (text when not JSON); a status outside 2xx rejects with KubeApiError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { status, headers, text } = await this.send(method, path, options);
    if (!isSuccess(status)) throw new KubeApiError(method, path, status, parseBody(text) as KubeStatus | string, headers);
    return parseBody(text) as T;
  }

  /** A request whose answer is text (pods/proxy, metrics); a status outside 2xx rejects with KubeApiError. */
  async requestText(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    const { status, headers, text } = await this.send(method, path, { accept: '*/*', ...options });
    if (!isSuccess(status)) throw new KubeApiError(method, path, status, parseBody(text) as KubeStatus | string, headers);
    return text;
  }

  /** A request answered with any status (pods/proxy: a pod's own answer). Rejects only without an answer. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
    const signal = requestSignal(options.signal, options.timeoutMs ?? this.#options.requestTimeoutMs);
    for (let attempt = 0; ; attempt += 1) {
      const response = await this.#open(method, path, options, signal);
      const text = await readBody(response, signal, this.#options.maxResponseBytes);
      if (response.statusCode === 401 && attempt === 0 && this.#credentials.refreshable && !PROXY_PATH.test(path)) {
        this.#credentials.invalidate();
        continue;
      }
      return { status: response.statusCode ?? 0, headers: response.headers, text };
    }
  }

  /**
   * Watches a collection: calls onEvent for every event until the server ends the watch
   * (resolves), `signal` aborts (resolves), or the connection breaks (rejects). A refused watch
   * rejects with KubeApiError (410 when resourceVersion is too old).
   */
  async watch(path: string, query: WatchQuery, onEvent: WatchHandler, signal?: AbortSignal): Promise<void> {
    const fullQuery: Query = { ...query, watch: true };
    let response: IncomingMessage;
    try {
      response = await this.#open('GET', path, { query: fullQuery }, signal);
      if (response.statusCode === 401 && this.#credentials.refreshable) {
        response.resume();
        this.#credentials.invalidate();
        response = await this.#open('GET', path, { query: fullQuery }, signal);
      }
      if (!isSuccess(response.statusCode ?? 0)) {
        const text = await readBody(response, signal, this.#options.maxResponseBytes);
        throw new KubeApiError('GET', path, response.statusCode ?? 0, parseBody(text) as KubeStatus | string, response.headers);
      }
      await readWatchStream(response, onEvent, this.#options.maxWatchLineBytes);
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
  }

  async version(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ major?: string; minor?: string; gitVersion?: string }> {
    return this.request('GET', '/version', options);
  }

  // ---- objects ----

  /** The plural and scope of a kind: known ones at once, others through discovery (once per group version). */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const known = knownResource(apiVersion, kind);
    if (known) return known;
    let kinds = this.#discovery.get(apiVersion);
    if (!kinds) {
      kinds = this.request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>('GET', groupVersionPath(apiVersion)).then(
        (list) => new Map((list.resources ?? []).filter((r) => !r.name.includes('/')).map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }])),
      );
      this.#discovery.set(apiVersion, kinds);
      kinds.catch(() => this.#discovery.delete(apiVersion));
    }
    const info = (await kinds).get(kind);
    if (!info) throw new KubeApiError('GET', groupVersionPath(apiVersion), 404, { kind: 'Status', reason: 'NotFound', code: 404, message: `the server has no resource for ${kind} in ${apiVersion}` }, {});
    return info;
  }

  async #path(object: ObjectHeader, subresource?: string): Promise<string> {
    const apiVersion = object.apiVersion ?? '';
    const info = await this.resource(apiVersion, object.kind ?? '');
    const namespace = info.namespaced ? (object.metadata?.namespace ?? this.namespace) : undefined;
    return objectPath({ apiVersion, plural: info.plural }, namespace, object.metadata?.name ?? '', subresource);
  }

  async read<T extends KubernetesObject = KubernetesObject>(object: ObjectHeader, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    return this.request<T>('GET', await this.#path(object), options);
  }

  async list<T extends KubernetesObject = KubernetesObject>(apiVersion: string, kind: string, options: ListOptions = {}): Promise<ObjectList<T>> {
    const info = await this.resource(apiVersion, kind);
    const path = collectionPath({ apiVersion, plural: info.plural }, info.namespaced ? options.namespace : undefined);
    const { labelSelector, fieldSelector, limit, resourceVersion, signal, timeoutMs } = options;
    return this.request<ObjectList<T>>('GET', path, { query: { labelSelector, fieldSelector, limit, continue: options.continue, resourceVersion }, signal, timeoutMs });
  }

  async create<T extends KubernetesObject = KubernetesObject>(object: T, options: WriteOptions = {}): Promise<T> {
    const info = await this.resource(object.apiVersion ?? '', object.kind ?? '');
    const path = collectionPath({ apiVersion: object.apiVersion ?? '', plural: info.plural }, info.namespaced ? (object.metadata?.namespace ?? this.namespace) : undefined);
    return this.request<T>('POST', path, { body: object, query: { fieldManager: options.fieldManager }, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  /** PUT: the whole object; metadata.resourceVersion, when set, makes it a compare-and-swap (409 if stale). */
  async replace<T extends KubernetesObject = KubernetesObject>(object: T, options: WriteOptions = {}): Promise<T> {
    return this.request<T>('PUT', await this.#path(object, options.subresource), { body: object, query: { fieldManager: options.fieldManager }, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  async patch<T extends KubernetesObject = KubernetesObject>(object: ObjectHeader, patch: unknown, type: PatchType, options: WriteOptions = {}): Promise<T> {
    const query = { fieldManager: options.fieldManager, force: type === 'apply' && options.force ? true : undefined };
    return this.request<T>('PATCH', await this.#path(object, options.subresource), { body: patch, contentType: PATCH_CONTENT_TYPES[type], query, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  /** Server-side apply of `object` (its own header names it) under `fieldManager`. */
  apply<T extends KubernetesObject = KubernetesObject>(object: T, options: WriteOptions & { fieldManager: string }): Promise<T> {
    return this.patch<T>(object, object, 'apply', options);
  }

  async delete(object: ObjectHeader, options: DeleteOptions = {}): Promise<unknown> {
    const { propagationPolicy, preconditions } = options;
    const body = propagationPolicy || preconditions ? { apiVersion: 'v1', kind: 'DeleteOptions', ...(propagationPolicy ? { propagationPolicy } : {}), ...(preconditions ? { preconditions } : {}) } : undefined;
    return this.request('DELETE', await this.#path(object), { body, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  // ---- transport ----

  async #open(method: string, path: string, options: RequestOptions, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    if (this.#closed) throw new KubeClientError('KUBE_CLIENT_CLOSED', `${method} ${path}: the client for ${this.target.context} was closed`);
    signal?.throwIfAborted();
    const credentials = await untilAborted(this.#credentials.get(), signal);
    if (this.#closed) throw new KubeClientError('KUBE_CLIENT_CLOSED', `${method} ${path}: the client for ${this.target.context} was closed`);
    const url = this.#url(path);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json', 'user-agent': USER_AGENT, ...options.headers };
    if (credentials.token) headers.authorization = `Bearer ${credentials.token}`;
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(url, { method, headers, agent: this.#agentFor(url, credentials), signal }, resolve);
      // Aborted by the caller's signal or timeout: reject with its reason (TimeoutError, the caller's own error), not a bare AbortError.
      request.on('error', (error) => reject(signal?.aborted && signal.reason instanceof Error ? signal.reason : error));
      request.end(body);
    });
  }

  /** `path` (which may carry a query) joined onto the server's own path; the server's origin cannot change. */
  #url(path: string): URL {
    const url = new URL(this.#base.href);
    const query = path.indexOf('?');
    url.pathname = this.#base.pathname.replace(/\/$/, '') + (query === -1 ? path : path.slice(0, query));
    if (query !== -1) url.search = path.slice(query + 1);
    return url;
  }

  #agentFor(url: URL, credentials: Credentials): http.Agent {
    const cert = credentials.cert ?? this.target.cert;
    if (this.#agent && this.#agentCert === cert) return this.#agent;
    // A new client certificate from the exec plugin: connections made with the old one go.
    this.#agent?.destroy();
    this.#agentCert = cert;
    this.#agentsMade += 1;
    const t = this.target;
    this.#agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: this.#options.maxSockets, ca: t.ca, cert, key: credentials.key ?? t.key, rejectUnauthorized: !t.insecureSkipTlsVerify, servername: t.tlsServerName })
        : new http.Agent({ keepAlive: true, maxSockets: this.#options.maxSockets });
    return this.#agent;
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** The caller's signal, bounded by timeoutMs when it is positive. */
function requestSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal | undefined {
  const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  if (timeout && signal) return AbortSignal.any([timeout, signal]);
  return timeout ?? signal;
}

/**
 * `promise`, or a rejection as soon as `signal` aborts (the work itself goes on: the caller aborts
 * it with the same signal, or it is shared, as credentials are). The rejection is `reason()`, else
 * the signal's reason.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, reason?: () => Error): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(reason ? reason() : signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The body as text, or a rejection: never a throw inside a listener. Past maxBytes the connection is closed. */
function readBody(response: IncomingMessage, signal: AbortSignal | undefined, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (error: Error | undefined, text?: string) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        chunks.length = 0;
        response.destroy();
        reject(error);
      } else resolve(text ?? '');
    };
    const onAbort = () => settle(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const tooLarge = () => settle(new KubeClientError('KUBE_RESPONSE_TOO_LARGE', `the response body passed ${maxBytes} bytes`));
    // A declared length over the limit is refused before a byte is read.
    if (Number(response.headers['content-length']) > maxBytes) return tooLarge();
    response.on('data', (chunk: Buffer) => {
      if (settled) return;
      bytes += chunk.length;
      if (bytes > maxBytes) return tooLarge();
      chunks.push(chunk);
    });
    response.on('end', () => {
      try {
        settle(undefined, Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        settle(error instanceof Error ? error : new Error(String(error)));
      }
    });
    response.on('error', (error) => settle(error));
    response.on('aborted', () => settle(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
  });
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
