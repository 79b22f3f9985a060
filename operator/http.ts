/**
 * The operator's own HTTP endpoints: /healthz (the process is alive and not stopping),
 * /readyz (a standby replica waiting for the Lease, or the leader once its informers have
 * synced), and /metrics (Prometheus text from the operator's Registry).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { OperatorError } from './errors.ts';

export interface OperatorHttpOptions {
  port: number;
  /** Default loopback: the endpoints have no auth, so they are not offered to the network unless asked. */
  host?: string;
  registry: Registry;
  /** Alive: false once shutdown has begun. */
  healthy(): boolean;
  /** Ready, with a short reason shown in the body either way. */
  readiness(): { ready: boolean; reason: string };
}

export interface OperatorHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOperatorHttp(options: OperatorHttpOptions): Promise<OperatorHttpServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return options.healthy() ? reply(200, 'ok\n') : reply(503, 'stopping\n');
    if (path === '/readyz') {
      const { ready, reason } = options.readiness();
      return reply(ready ? 200 : 503, `${reason}\n`);
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, text, options.registry.contentType),
        (error: unknown) => reply(500, `metrics failed: ${error instanceof Error ? error.message : String(error)}\n`),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE' && error.code !== 'EADDRNOTAVAIL') return reject(error);
      const what = error.code === 'EADDRINUSE' ? `port ${options.port} on ${host} is already in use` : `address ${host} is not on this machine`;
      reject(new OperatorError('METRICS_LISTEN_FAILED', `cannot serve /healthz, /readyz and /metrics: ${what}; choose another with --metrics-port (or --metrics-host)`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
