/**
 * Gateways for tests, and a small protocol v1 client over a real WebSocket.
 *
 * - `startGateway(config)` runs a gateway in this process on a free loopback port (the engine
 *   the config describes, Redis when `redisUrl` is set, unless one is passed), with a known
 *   JWT secret and API key.
 * - `spawnGateway(config)` runs `meridian gateway --config FILE` as a child process, for
 *   signals, exit codes and the real entry point.
 * - `TestClient` speaks the protocol: `request()` numbers commands and resolves with the reply
 *   carrying the same id; `waitFrame()` waits for a push; `closed` resolves with the close code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { signDevToken } from '../../gateway/auth.ts';
import { resolveConfig, type ConfigInput, type GatewayConfig } from '../../gateway/config.ts';
import type { Engine } from '../../gateway/engine/types.ts';
import { createConfiguredEngine } from '../../gateway/main.ts';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/server.ts';
import { freePort, waitFor } from './net.ts';

export const testSecret = 'test-secret-that-is-long-enough-for-hs256';
export const testApiKey = 'test-api-key';

/** A JSON frame as received; fields are checked by the tests. */
export type Frame = Record<string, any>;

export interface TokenOptions {
  rooms?: string[];
  name?: string;
  /** Seconds from now; negative for an expired token. */
  expiresInSec?: number;
  secret?: string;
}

export async function signToken(user: string, options: TokenOptions = {}): Promise<string> {
  const secret = options.secret ?? testSecret;
  if (options.expiresInSec !== undefined && options.expiresInSec <= 0) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ rooms: options.rooms ?? ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user)
      .setIssuedAt(now - 3600)
      .setExpirationTime(now + options.expiresInSec)
      .sign(new TextEncoder().encode(secret));
  }
  return signDevToken(secret, { sub: user, rooms: options.rooms ?? ['*'], name: options.name, ttlSec: options.expiresInSec });
}

export class TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  /** Resolves when the socket closes, with the code the server sent. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly waiters = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch (error) {
        frame = { op: '__unparsable__', text, error: String(error) };
      }
      this.frames.push(frame);
      for (const wake of this.waiters) wake();
    });
    ws.on('error', (error) => this.frames.push({ op: '__socket_error__', error: String(error) }));
  }

  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Opens a socket and sends connect; resolves with the client once `connected` arrives. */
  static async connected(url: string, token: string): Promise<TestClient> {
    const client = await TestClient.open(url);
    const reply = await client.request({ op: 'connect', token });
    if (reply.op !== 'connected') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Sends a command with a fresh id and resolves with the reply (or error) carrying it. */
  async request(frame: Frame, timeoutMs = 10_000): Promise<Frame> {
    const id = this.nextId++;
    this.send({ id, ...frame });
    return this.waitFrame((f) => f.id === id, { timeoutMs, what: `reply to ${frame.op} #${id}` });
  }

  /** The first received frame (past or future) matching `predicate`. */
  waitFrame(predicate: (frame: Frame) => boolean, { timeoutMs = 10_000, what = 'frame' } = {}): Promise<Frame> {
    const found = this.frames.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = () => {
        const frame = this.frames.find(predicate);
        if (!frame) return;
        cleanup();
        resolve(frame);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }

  /** Waits until `count` frames match. */
  async waitCount(predicate: (frame: Frame) => boolean, count: number, timeoutMs = 20_000): Promise<Frame[]> {
    await waitFor(() => this.frames.filter(predicate).length >= count, { timeoutMs, what: `${count} matching frames` });
    return this.frames.filter(predicate);
  }

  messages(room?: string): Frame[] {
    return this.frames.filter((f) => f.op === 'message' && (room === undefined || f.room === room));
  }

  /** Stops reading from the socket, so the server's writes back up (a slow consumer). */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    await this.closed;
  }
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly engine: Engine;
  readonly config: GatewayConfig;
  readonly port: number;
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** GET /metrics on the metrics listener. */
  readonly metricsUrl: string;
  token(user: string, options?: TokenOptions): Promise<string>;
  /** A connected client for `user` (rooms ["*"] unless given). */
  client(user: string, options?: TokenOptions): Promise<TestClient>;
  /** fetch() against the gateway with the API key unless `apiKey: null`. */
  api(path: string, init?: RequestInit & { apiKey?: string | null }): Promise<Response>;
  /** `api()` with the JSON body parsed. */
  apiJson(path: string, init?: RequestInit & { apiKey?: string | null }): Promise<{ status: number; body: Frame }>;
  close(): Promise<void>;
}

const quietLogger = pino({ level: process.env.MERIDIAN_TEST_LOG ?? 'silent' });

/** Starts a gateway in this process on a free port; `logger` captures its log lines when given. */
export async function startGateway(
  overrides: ConfigInput = {},
  options: { engine?: Engine; logger?: Logger; checkWsInternals?: GatewayOptions['checkWsInternals']; notify?: GatewayOptions['notify'] } = {},
): Promise<TestGateway> {
  const input = {
    host: '127.0.0.1',
    region: 'test-region',
    node: 'test-node',
    ...overrides,
    port: overrides.port ?? 0,
    apiKey: overrides.apiKey ?? testApiKey,
    jwt: { secret: testSecret, ...overrides.jwt },
    // A free port each: several gateways share a process, and test files run in parallel.
    metrics: { port: 0, ...overrides.metrics },
  };
  const config = resolveConfig(input, {});
  // The engine the config describes (memory, or Redis when redisUrl is set), as the entry point builds it.
  const engine = options.engine ?? createConfiguredEngine(config, quietLogger);
  const clients: TestClient[] = [];
  const gateway = createGateway({ config, engine, logger: options.logger ?? quietLogger, checkWsInternals: options.checkWsInternals, notify: options.notify });
  await gateway.start();
  const httpUrl = `http://127.0.0.1:${gateway.port}`;
  const wsUrl = `ws://127.0.0.1:${gateway.port}/v1/ws`;
  const handle: TestGateway = {
    gateway,
    engine,
    config,
    port: gateway.port,
    httpUrl,
    wsUrl,
    metricsUrl: `http://127.0.0.1:${gateway.metricsPort}/metrics`,
    token: (user, tokenOptions) => signToken(user, tokenOptions),
    async client(user, tokenOptions) {
      const client = await TestClient.connected(wsUrl, await signToken(user, tokenOptions));
      clients.push(client);
      return client;
    },
    api(path, init = {}) {
      const { apiKey = testApiKey, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (apiKey !== null) headers.set('authorization', `Bearer ${apiKey}`);
      return fetch(httpUrl + path, { ...rest, headers });
    },
    async apiJson(path, init) {
      const res = await handle.api(path, init);
      return { status: res.status, body: (await res.json()) as Frame };
    },
    async close() {
      for (const c of clients) c.ws.terminate();
      await gateway.close();
      if (!options.engine) await engine.close();
    },
  };
  return handle;
}

export interface SpawnedGateway {
  readonly port: number;
  readonly process: ChildProcess;
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly metricsUrl: string;
  /** stdout (pino JSON lines) and stderr, as received so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code (or signal) once the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the process (by PID). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL if still running, then waits for the exit. */
  stop(): Promise<void>;
}

const meridianBin = new URL('../../bin/meridian.ts', import.meta.url).pathname;

/**
 * Spawns `meridian gateway --config FILE` with `config` written to a temp file and `env` added
 * to the environment. Resolves once /healthz answers, unless `waitHealthy: false` (for
 * processes expected to fail at start).
 */
export async function spawnGateway(
  config: Record<string, unknown> = {},
  options: { env?: Record<string, string>; waitHealthy?: boolean } = {},
): Promise<SpawnedGateway> {
  const port = typeof config.port === 'number' ? config.port : await freePort();
  const given = config.metrics as { port?: number } | undefined;
  const metricsPort = typeof given?.port === 'number' ? given.port : await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meridian-gw-'));
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port, jwt: { secret: testSecret }, apiKey: testApiKey, ...config, metrics: { ...given, port: metricsPort } }));
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const key of Object.keys(env)) if (key.startsWith('MERIDIAN_') && !(options.env && key in options.env)) delete env[key];
  const child = spawn(process.execPath, [meridianBin, 'gateway', '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  const handle: SpawnedGateway = {
    port,
    process: child,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    output: () => ({ stdout, stderr }),
    exited,
    signal: (signal) => {
      if (!ended) child.kill(signal);
    },
    async stop() {
      if (!ended) child.kill('SIGKILL');
      await exited;
    },
  };
  if (options.waitHealthy !== false) {
    try {
      await waitFor(
        async () => {
          if (ended) throw new Error(`gateway exited early: ${stderr}`);
          const res = await fetch(`${handle.httpUrl}/healthz`);
          return res.ok;
        },
        { timeoutMs: 20_000, what: `gateway on port ${port}` },
      );
    } catch (error) {
      await handle.stop();
      throw error;
    }
  }
  return handle;
}

/** A pino logger that keeps its lines (parsed) in `lines`, for asserting on what was logged. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: Frame[] } {
  const lines: Frame[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Frame) });
  return { logger, lines };
}
