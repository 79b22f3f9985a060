/**
 * The operations dashboard: its own HTTP listener in the operator process, at `/dashboard`.
 * The page (no build step: plain HTML, CSS and a module script) and uPlot (served from the
 * installed package, no CDN) come from here; `/dashboard/events` is a server-sent event stream
 * that sends the whole history on connect and each new sample after. `/dashboard/state` is the
 * latest sample as JSON.
 *
 * Loopback only unless told otherwise; bound to another address it requires a bearer token
 * (the `Authorization` header, or once `?token=` on the page, which sets an HttpOnly cookie).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Collector } from './collector.ts';
import type { DashboardSources } from './sources.ts';

export interface DashboardOptions {
  port: number;
  host: string;
  /** Required when `host` is not a loopback address. */
  token?: string;
  sources: DashboardSources;
  sampleIntervalMs?: number;
  /** How much history the charts show. */
  windowMs?: number;
  /** Open event streams at once; one more is refused (503). */
  maxStreams?: number;
  logger?: { warn(obj: object, msg?: string): void };
}

export interface DashboardServer {
  readonly port: number;
  close(): Promise<void>;
}

export const DASHBOARD_DEFAULTS = Object.freeze({ sampleIntervalMs: 2000, windowMs: 15 * 60_000, maxStreams: 32 });
const COOKIE = 'meridian_dashboard';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function asset(relative: string): Buffer {
  return readFileSync(new URL(relative, import.meta.url));
}

function uplotAsset(file: string): Buffer {
  const require = createRequire(import.meta.url);
  return readFileSync(require.resolve(`uplot/dist/${file}`));
}

const sha = (text: string) => createHash('sha256').update(text).digest();

export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  if (!isLoopback(options.host) && !options.token) throw new Error(`the dashboard listens on ${options.host}, beyond loopback: give it a token (--dashboard-token / MERIDIAN_DASHBOARD_TOKEN)`);
  const settings = { ...DASHBOARD_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DASHBOARD_DEFAULTS & DashboardOptions;
  const files: Record<string, { body: Buffer; type: string }> = {
    '/dashboard': { body: asset('./page/index.html'), type: 'text/html; charset=utf-8' },
    '/dashboard/app.js': { body: asset('./page/app.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard/style.css': { body: asset('./page/style.css'), type: 'text/css; charset=utf-8' },
    '/dashboard/uplot.js': { body: uplotAsset('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard/uplot.css': { body: uplotAsset('uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
  const collector = new Collector(settings.sources, settings.windowMs);
  const streams = new Set<ServerResponse>();

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (!options.token) return true;
    const expected = sha(options.token);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).find(([k]) => k === COOKIE)?.[1];
    const given = bearer ?? (cookie === undefined ? undefined : decodeURIComponent(cookie)) ?? url.searchParams.get('token') ?? '';
    return timingSafeEqual(sha(given), expected);
  };

  const send = (res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
    res.end(body);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (!authorized(req, url)) return send(res, 401, 'a bearer token is required\n', undefined, { 'www-authenticate': 'Bearer' });
    if (url.pathname === '/dashboard' && url.searchParams.has('token')) {
      // The token moves into a cookie so that the page's own requests (EventSource cannot send headers) carry it.
      return send(res, 303, '', undefined, { location: '/dashboard', 'set-cookie': `${COOKIE}=${encodeURIComponent(url.searchParams.get('token') ?? '')}; HttpOnly; SameSite=Strict; Path=/dashboard` });
    }
    if (url.pathname === '/' || url.pathname === '/dashboard/') return send(res, 302, '', undefined, { location: '/dashboard' });
    const file = files[url.pathname];
    if (file) return send(res, 200, file.body, file.type);
    if (url.pathname === '/dashboard/state') return send(res, 200, JSON.stringify(collector.view()), 'application/json');
    if (url.pathname === '/dashboard/events') {
      if (streams.size >= settings.maxStreams) return send(res, 503, `at most ${settings.maxStreams} dashboard streams at once\n`);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: history\ndata: ${JSON.stringify({ series: collector.history(), view: collector.view() })}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    send(res, 404, 'not found\n');
  });

  let sampling = false;
  const tick = async () => {
    if (sampling) return;
    sampling = true;
    try {
      const view = await collector.sample();
      const frame = `event: sample\ndata: ${JSON.stringify(view)}\n\n`;
      for (const stream of streams) stream.write(frame);
    } catch (error) {
      options.logger?.warn({ err: (error as Error).message }, 'dashboard sample failed');
    } finally {
      sampling = false;
    }
  };
  const timer = setInterval(() => void tick(), settings.sampleIntervalMs);
  timer.unref();
  void tick();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const stream of streams) stream.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
