/**
 * The metrics listener: `GET /metrics` (Prometheus text) on `metrics.host`:`metrics.port`,
 * apart from the public listener. A scrape renders every series (large with many error codes
 * and process metrics); on the public port, pipelined scrapes let anyone make the gateway hold
 * many such renders at once. Here it answers whoever can reach the metrics address (loopback by
 * default; the pod network when set to 0.0.0.0), and concurrent scrapes share one render.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.ts';
import { sendJson } from './http-api.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface MetricsServer {
  readonly port: number;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createMetricsServer(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): MetricsServer {
  let server: Server | undefined;
  let rendering: Promise<string> | undefined;

  function render(): Promise<string> {
    rendering ??= metrics.registry.metrics().finally(() => (rendering = undefined));
    return rendering;
  }

  return {
    get port() {
      return (server?.address() as AddressInfo | null)?.port ?? 0;
    },
    async start() {
      const { limits } = config;
      server = createServer({ headersTimeout: limits.httpHeadersTimeoutMs, requestTimeout: limits.httpRequestTimeoutMs }, (req, res) => {
        const path = URL.parse(req.url ?? '/', 'http://metrics')?.pathname;
        if (path !== '/metrics') return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'this listener serves GET /metrics only' } });
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } });
        render().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
            res.end(req.method === 'HEAD' ? undefined : text);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'metrics could not be rendered');
            sendJson(res, 500, { error: { code: 'INTERNAL', message: 'metrics could not be rendered' } });
          },
        );
      });
      server.maxRequestsPerSocket = limits.httpMaxRequestsPerSocket;
      await new Promise<void>((resolve, reject) => {
        // A taken port names the fields that move it.
        const failed = (error: Error) => reject(new Error(`metrics listener ${config.metrics.host}:${config.metrics.port} (metrics.host, metrics.port): ${error.message}`, { cause: error }));
        server!.once('error', failed);
        server!.listen(config.metrics.port, config.metrics.host, () => {
          server!.off('error', failed);
          resolve();
        });
      });
    },
    async close() {
      if (server?.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
      server?.closeAllConnections();
    },
  };
}
