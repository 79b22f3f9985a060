/**
 * A user's credentials for each request: a bearer token (static, from a file, or from an exec
 * plugin) and, from an exec plugin, possibly a client certificate.
 *
 * - tokenFile is read again once it is older than tokenFileMaxAgeMs (a service-account token
 *   rotates; client-go re-reads it every minute too);
 * - an exec plugin runs on first use and its ExecCredential is kept until its
 *   expirationTimestamp (less a margin; one that expires sooner than the margin is kept until
 *   it expires, so that it is used at all), or for good when it has none; a 401 answer drops it
 *   so the next request runs the plugin again. Concurrent requests share one run.
 * - the plugin runs non-interactively (stdin closed at once) and is killed with SIGKILL after
 *   execTimeoutMs, whether or not it would have exited on its own; its failure is reported by
 *   command name, exit code or signal only: its arguments and stderr may hold secrets.
 */
import { spawn } from 'node:child_process';
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

export interface CredentialOptions {
  /** An exec plugin still running after this long is killed (SIGKILL) and the run fails. */
  execTimeoutMs?: number;
  now?: () => number;
}

export class CredentialSource {
  readonly #auth: UserAuth;
  readonly #now: () => number;
  readonly #execTimeoutMs: number;
  #cached: Credentials | undefined;
  #expiresAt = 0;
  #pending: Promise<Credentials> | undefined;

  constructor(auth: UserAuth, options: CredentialOptions = {}) {
    this.#auth = auth;
    this.#now = options.now ?? Date.now;
    this.#execTimeoutMs = options.execTimeoutMs ?? CREDENTIAL_DEFAULTS.execTimeoutMs;
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
    const credential = await runExecPlugin(exec, this.#execTimeoutMs);
    const status = credential.status ?? {};
    const creds: Credentials = {
      ...(typeof status.token === 'string' && status.token ? { token: status.token } : {}),
      ...(typeof status.clientCertificateData === 'string' && typeof status.clientKeyData === 'string' ? { cert: status.clientCertificateData, key: status.clientKeyData } : {}),
    };
    if (!creds.token && !creds.cert) throw new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} printed an ExecCredential without status.token or a client certificate`);
    const expiry = typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
    this.#cached = creds;
    // Renewed a margin ahead of expiry; one that expires within the margin is used until it expires
    // (else every request would run the plugin again).
    const renewAt = expiry - CREDENTIAL_DEFAULTS.execExpiryMarginMs;
    this.#expiresAt = !Number.isFinite(expiry) ? Infinity : renewAt > this.#now() ? renewAt : expiry;
    return creds;
  }
}

interface ExecCredential {
  apiVersion?: string;
  kind?: string;
  status?: { token?: unknown; clientCertificateData?: unknown; clientKeyData?: unknown; expirationTimestamp?: unknown };
}

/**
 * Runs the plugin as client-go does: KUBERNETES_EXEC_INFO in its environment, an ExecCredential
 * on stdout. Errors name the command and how it ended, never its arguments or what it printed.
 */
export function runExecPlugin(exec: ExecConfig, timeoutMs: number = CREDENTIAL_DEFAULTS.execTimeoutMs): Promise<ExecCredential> {
  const info = { apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
  const env = { ...process.env, ...Object.fromEntries(exec.env.map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  const failed = (detail: string) => new KubeConfigError('EXEC_CREDENTIAL_FAILED', `exec plugin ${exec.command} ${detail}`);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, credential?: ExecCredential) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(credential!);
    };
    // stderr is not read at all (it may print secrets): ignored, not piped.
    const child = spawn(exec.command, exec.args, { env, cwd: exec.cwd, stdio: ['pipe', 'pipe', 'ignore'] });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    // A plugin that ignores SIGTERM (or hands stdout to a child of its own) must not hold the request: kill it and fail now.
    const timer = setTimeout(() => {
      kill();
      settle(failed(`did not finish within ${timeoutMs} ms and was killed`));
    }, timeoutMs);
    child.stdin.on('error', () => {}); // a plugin that exits without reading stdin closes the pipe: not a failure
    child.stdin.end(); // non-interactive: nothing will be typed
    const chunks: Buffer[] = [];
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > CREDENTIAL_DEFAULTS.execMaxOutputBytes) {
        kill();
        return settle(failed(`printed more than ${CREDENTIAL_DEFAULTS.execMaxOutputBytes} bytes and was killed`));
      }
      chunks.push(chunk);
    });
    child.on('error', (error: NodeJS.ErrnoException) => settle(failed(`could not be run${error.code ? ` (${error.code})` : ''}`)));
    child.on('close', (code, signal) => {
      if (settled) return;
      if (signal) return settle(failed(`was killed by ${signal}`));
      if (code !== 0) return settle(failed(`exited with code ${code}`));
      let parsed: ExecCredential;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExecCredential;
      } catch {
        return settle(failed('printed no JSON ExecCredential'));
      }
      if (parsed?.kind !== 'ExecCredential') return settle(failed(`printed kind ${String(parsed?.kind)}, not ExecCredential`));
      settle(undefined, parsed);
    });
  });
}
