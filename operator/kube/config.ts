/**
 * Kubeconfig loading: a file, a string, the default ($KUBECONFIG, else ~/.kube/config) or the
 * in-cluster service account, resolved to one KubeTarget (the current context's cluster and
 * user). What is supported:
 *
 * - clusters: `server`, `certificate-authority` / `certificate-authority-data`,
 *   `insecure-skip-tls-verify`, `tls-server-name`;
 * - users: `token`, `tokenFile`, `client-certificate(-data)` + `client-key(-data)`, and `exec`
 *   credential plugins (client.authentication.k8s.io v1 and v1beta1);
 * - in-cluster: the service-account token (re-read as it rotates), its CA, and
 *   KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT.
 *
 * `auth-provider` (the retired gcp/azure/oidc plugins), username/password, impersonation and
 * `proxy-url` are refused with KUBECONFIG_UNSUPPORTED_AUTH (ignoring them would change who
 * the requests act as, or how they travel). With `inlineOnly` (kubeconfigs read from Secrets) any file
 * reference or exec plugin is refused with KUBECONFIG_FORBIDDEN_REFERENCE: whoever can write
 * the Secret must not make the operator read its files or run commands.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { KubeConfigError } from './errors.ts';

export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  /** Directory relative commands and paths resolve from (the kubeconfig's). */
  cwd: string | undefined;
}

/** Where a request's credentials come from. */
export type UserAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'tokenFile'; path: string }
  | { kind: 'exec'; exec: ExecConfig };

export interface KubeTarget {
  /** The context's name (for logs and errors). */
  context: string;
  cluster: string;
  user: string;
  server: string;
  /** The context's namespace, else 'default'. */
  namespace: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  auth: UserAuth;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Named<T> {
  name: string;
  value: T;
}

type Raw = Record<string, unknown>;

function record(value: unknown): Raw {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function named(list: unknown, field: string): Named<Raw>[] {
  return (Array.isArray(list) ? list : []).map((entry) => ({ name: String(record(entry).name ?? ''), value: record(record(entry)[field]) }));
}

function decode(data: string): string {
  return Buffer.from(data, 'base64').toString('utf8');
}

export interface ParseOptions {
  /** Relative file paths in the kubeconfig resolve from here (the file's directory). */
  baseDir?: string;
  /** Refuse file references and exec plugins (a kubeconfig from a Secret). */
  inlineOnly?: boolean;
  /** Use this context instead of current-context. */
  context?: string;
}

/** Parses kubeconfig text (YAML or JSON) and resolves its current context. */
export function parseKubeconfig(text: string, options: ParseOptions = {}): KubeTarget {
  let doc: Raw;
  try {
    doc = record(parse(text));
  } catch (error) {
    throw new KubeConfigError('KUBECONFIG_INVALID', `the kubeconfig does not parse: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  const contextName = options.context ?? str(doc['current-context']);
  const context = named(doc.contexts, 'context').find((c) => c.name === contextName);
  const cluster = context && named(doc.clusters, 'cluster').find((c) => c.name === str(context.value.cluster));
  const user = context && named(doc.users, 'user').find((u) => u.name === str(context.value.user));
  if (!context || !cluster || !str(cluster.value.server)) {
    throw new KubeConfigError('KUBECONFIG_INVALID', `the kubeconfig's current context (${contextName ?? 'none'}) must name a cluster with a server`);
  }
  const c = cluster.value;
  const u = user?.value ?? {};
  const forbidden = options.inlineOnly
    ? [u.exec && 'exec', u['auth-provider'] && 'auth-provider', u['client-certificate'] && 'client-certificate', u['client-key'] && 'client-key', u.tokenFile && 'tokenFile', c['certificate-authority'] && 'certificate-authority'].filter(Boolean)
    : [];
  if (forbidden.length > 0) throw new KubeConfigError('KUBECONFIG_FORBIDDEN_REFERENCE', `only inline credentials are accepted; the kubeconfig uses ${forbidden.join(', ')}`);
  if (u['auth-provider']) throw new KubeConfigError('KUBECONFIG_UNSUPPORTED_AUTH', `user ${user?.name}: auth-provider is not supported; use an exec credential plugin (e.g. gke-gcloud-auth-plugin)`);
  if (u.username || u.password) throw new KubeConfigError('KUBECONFIG_UNSUPPORTED_AUTH', `user ${user?.name}: username/password (basic auth) is not supported`);
  // Ignoring these would send requests as another identity, or by another route, than the kubeconfig says.
  if (u.as || u['as-groups'] || u['as-uid'] || u['as-user-extra']) throw new KubeConfigError('KUBECONFIG_UNSUPPORTED_AUTH', `user ${user?.name}: impersonation (as, as-groups) is not supported`);
  if (c['proxy-url']) throw new KubeConfigError('KUBECONFIG_UNSUPPORTED_AUTH', `cluster ${cluster.name}: proxy-url is not supported`);
  const base = options.baseDir;
  const path = (file: string) => (isAbsolute(file) || !base ? file : resolve(base, file));
  const fileOrData = (file: unknown, data: unknown): string | undefined => (str(data) ? decode(str(data)!) : str(file) ? readFileSync(path(str(file)!), 'utf8') : undefined);
  return {
    context: context.name,
    cluster: cluster.name,
    user: user?.name ?? '',
    server: parseServer(str(c.server)!),
    namespace: str(context.value.namespace) ?? 'default',
    ca: fileOrData(c['certificate-authority'], c['certificate-authority-data']),
    cert: fileOrData(u['client-certificate'], u['client-certificate-data']),
    key: fileOrData(u['client-key'], u['client-key-data']),
    insecureSkipTlsVerify: c['insecure-skip-tls-verify'] === true,
    tlsServerName: str(c['tls-server-name']),
    auth: userAuth(u, base, path),
  };
}

/**
 * The cluster's server as the client joins API paths onto it: an http(s) URL whose path is kept
 * as a prefix (without a trailing slash). A query, a fragment or credentials in it are refused:
 * joined as text, `?` or `#` would swallow the API path (a region's kubeconfig comes from a
 * tenant's Secret, so its server may be chosen to send requests to some other path).
 */
export function parseServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeConfigError('KUBECONFIG_INVALID_SERVER', 'the cluster server is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KubeConfigError('KUBECONFIG_INVALID_SERVER', `the cluster server must be http(s), not ${url.protocol}`);
  if (url.username || url.password) throw new KubeConfigError('KUBECONFIG_INVALID_SERVER', 'the cluster server must not carry credentials');
  if (url.search || server.includes('?')) throw new KubeConfigError('KUBECONFIG_INVALID_SERVER', 'the cluster server must not carry a query');
  if (url.hash || server.includes('#')) throw new KubeConfigError('KUBECONFIG_INVALID_SERVER', 'the cluster server must not carry a fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function userAuth(u: Raw, baseDir: string | undefined, path: (file: string) => string): UserAuth {
  if (str(u.token)) return { kind: 'token', token: str(u.token)! };
  if (str(u.tokenFile)) return { kind: 'tokenFile', path: path(str(u.tokenFile)!) };
  const exec = record(u.exec);
  if (str(exec.command)) {
    return {
      kind: 'exec',
      exec: {
        apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
        command: str(exec.command)!,
        args: Array.isArray(exec.args) ? exec.args.map(String) : [],
        env: (Array.isArray(exec.env) ? exec.env : []).map((e) => ({ name: String(record(e).name), value: String(record(e).value ?? '') })),
        cwd: baseDir,
      },
    };
  }
  return { kind: 'none' };
}

/** Reads a kubeconfig file; relative paths inside it resolve from its directory. */
export function loadKubeconfigFile(file: string, options: Omit<ParseOptions, 'baseDir'> = {}): KubeTarget {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KubeConfigError('KUBECONFIG_INVALID', `cannot read kubeconfig ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseKubeconfig(text, { ...options, baseDir: dirname(resolve(file)) });
}

/** The first file of $KUBECONFIG (a path list), else ~/.kube/config. Merging several files is not supported. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv): string {
  const first = env.KUBECONFIG?.split(process.platform === 'win32' ? ';' : ':').find(Boolean);
  return first ?? join(homedir(), '.kube', 'config');
}

/** The in-cluster configuration of a Pod's service account. */
export function inClusterTarget(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): KubeTarget {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new KubeConfigError('KUBECONFIG_IN_CLUSTER_UNAVAILABLE', 'not running in a cluster: KUBERNETES_SERVICE_HOST is unset');
  let ca: string;
  let namespace = 'default';
  try {
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    readFileSync(join(dir, 'token'));
  } catch (error) {
    throw new KubeConfigError('KUBECONFIG_IN_CLUSTER_UNAVAILABLE', `the service-account token or CA is missing under ${dir}`, { cause: error });
  }
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || namespace;
  } catch {
    // A service account mounted without its namespace file: 'default', as client-go assumes.
  }
  return {
    context: 'in-cluster',
    cluster: 'in-cluster',
    user: 'in-cluster',
    server: parseServer(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    namespace,
    ca,
    insecureSkipTlsVerify: false,
    // The projected token rotates (about hourly): read it again rather than keep the first one.
    auth: { kind: 'tokenFile', path: join(dir, 'token') },
  };
}
