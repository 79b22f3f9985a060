/**
 * A user's credentials for each request: a bearer token (static, from a file, or from an exec
 * plugin) and, from an exec plugin, possibly a client certificate.
 *
 * - tokenFile is read again once it is older than tokenFileMaxAgeMs (a service-account token
 *   rotates; client-go re-reads it every minute too);
 * - an exec plugin runs on first use and its ExecCredential is kept until its
 *   expirationTimestamp (less a margin), or for good when it has none; a 401 answer drops it so
 *   the next request runs the plugin again. Concurrent requests share one run.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { ExecConfig, UserAuth } from './config.ts';
import { KubeConfigError } from './errors.ts';

export interface Credentials {
  token?: string;
  cert?: string;
  key?: string;
}

export const CREDENTIAL_DEFAULTS = Object.freeze({
  tokenFileMaxAgeMs: 60_000,
  /** An exec credential is run again this long before it expires. */
  execExpiryMarginMs: 10_000,
  execTimeoutMs: 30_000,
  /** Bytes an exec plugin may print. */
  execMaxOutputBytes: 1024 * 1024,
});

export class CredentialSource {
  readonly #auth: UserAuth;
  readonly #now: () => number;
  #cached: Credentials | undefined;
  #expiresAt = 0;
  #pending: Promise<Credentials> | undefined;

  constructor(auth: UserAuth, now: () => number = Date.now) {
    this.#auth = auth;
    this.#now = now;
  }

  /** True when the credentials can change (a 401 is worth one more try with fresh ones). */
  get refreshable(): boolean {
    return this.#auth.kind === 'exec' || this.#auth.kind === 'tokenFile';
  }

  async get(): Promise<Credentials> {
    const auth = this.#auth;
    if (auth.kind === 'none') return {};
    if (auth.kind === 'token') return { token: auth.token };
    if (this.#cached && this.#now() < this.#expiresAt) return this.#cached;
    this.#pending ??= (auth.kind === 'tokenFile' ? this.#readTokenFile(auth.path) : this.#runExec(auth.exec)).finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  /** Forgets what was cached (the server answered 401). */
  invalidate(): void {
    this.#cached = undefined;
    this.#expiresAt = 0;
  }

  async #readTokenFile(path: string): Promise<Credentials> {
    const token = (await readFile(path, 'utf8')).trim();
    this.#cached = { token };
    this.#expiresAt = this.#now() + CREDENTIAL_DEFAULTS.tokenFileMaxAgeMs;
    return this.#cached;
  }

  async #runExec(exec: ExecConfig): Promise<Credentials> {
    const credential = await runExecPlugin(exec);
    const status = credential.status ?? {};
    const creds: Credentials = {
      ...(typeof status.token === 'string' && status.token ? { token: status.token } : {}),
      ...(typeof status.clientCertificateData === 'string' && typeof status.clientKeyData === 'string' ? { cert: status.clientCertificateData, key: status.clientKeyData } : {}),
    };
    if (!creds.token && !creds.cert) throw new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} printed an ExecCredential without status.token or a client certificate`);
    const expiry = typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
    this.#cached = creds;
    this.#expiresAt = Number.isFinite(expiry) ? expiry - CREDENTIAL_DEFAULTS.execExpiryMarginMs : Infinity;
    return creds;
  }
}

interface ExecCredential {
  apiVersion?: string;
  kind?: string;
  status?: { token?: unknown; clientCertificateData?: unknown; clientKeyData?: unknown; expirationTimestamp?: unknown };
}

/** Runs the plugin as client-go does: KUBERNETES_EXEC_INFO in its environment, an ExecCredential on stdout. */
export function runExecPlugin(exec: ExecConfig): Promise<ExecCredential> {
  const info = { apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
  const env = { ...process.env, ...Object.fromEntries(exec.env.map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  return new Promise((resolve, reject) => {
    execFile(exec.command, exec.args, { env, cwd: exec.cwd, timeout: CREDENTIAL_DEFAULTS.execTimeoutMs, maxBuffer: CREDENTIAL_DEFAULTS.execMaxOutputBytes, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const detail = String(stderr).trim().split('\n')[0] ?? '';
        return reject(new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} failed: ${error.message.split('\n')[0]}${detail ? ` (${detail})` : ''}`, { cause: error }));
      }
      let parsed: ExecCredential;
      try {
        parsed = JSON.parse(stdout) as ExecCredential;
      } catch (parseError) {
        return reject(new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} printed no JSON ExecCredential`, { cause: parseError }));
      }
      if (parsed?.kind !== 'ExecCredential') return reject(new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} printed kind ${String(parsed?.kind)}, not ExecCredential`));
      resolve(parsed);
    });
  });
}
