/**
 * A region's front door, standing in for the load balancer in front of a real region's
 * gateway Service (the sandbox's Services have no endpoints): one loopback port per region
 * that serves the demo chat page at `/` and forwards everything else — HTTP and WebSocket
 * upgrades alike — to a Ready gateway Pod of the region, round robin. Pods are found through
 * the region's API (their `sandbox.meridian.dev/port` annotation), looked at again every
 * `refreshMs`, so rolled or restarted Pods are followed.
 */
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PORT_ANNOTATION } from '../apiserver/index.ts';
import { apiRequest, CLUSTER_NAME, REGION_NAMESPACE } from './objects.ts';

const demoPage = readFileSync(new URL('../../gateway/demo.html', import.meta.url));

export interface FrontDoor {
  readonly port: number;
  readonly region: string;
  /** Ports of the Ready gateway Pods last seen. */
  backends(): number[];
  close(): Promise<void>;
}

interface PodList {
  items: Array<{ metadata: { annotations?: Record<string, string>; deletionTimestamp?: string }; status?: { conditions?: Array<{ type: string; status: string }> } }>;
}

export async function startFrontDoor(options: { region: string; kubeconfig: () => string; port: number; refreshMs?: number }): Promise<FrontDoor> {
  let ports: number[] = [];
  let next = 0;
  const sockets = new Set<Socket>();
  const refresh = async () => {
    const selector = encodeURIComponent(`app.kubernetes.io/instance=${CLUSTER_NAME}`);
    const response = await apiRequest(options.kubeconfig(), 'GET', `/api/v1/namespaces/${REGION_NAMESPACE}/pods?labelSelector=${selector}`);
    if (response.status !== 200) return;
    ports = (response.body as PodList).items
      .filter((pod) => !pod.metadata.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((pod) => Number(pod.metadata.annotations?.[PORT_ANNOTATION]))
      .filter((port) => port > 0);
  };
  const pick = (): number | undefined => (ports.length === 0 ? undefined : ports[next++ % ports.length]);
  const timer = setInterval(() => void refresh().catch(() => undefined), options.refreshMs ?? 1000);
  await refresh().catch(() => undefined);

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': demoPage.length, 'cache-control': 'no-store' });
      res.end(demoPage);
      return;
    }
    const port = pick();
    if (port === undefined) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: `no Ready gateway pod in region ${options.region}` } }));
      return;
    }
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'the gateway pod did not answer' } }));
    });
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // WebSocket: the upgrade request is replayed to a pod as it came, then bytes flow both ways.
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const port = pick();
    if (port === undefined) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const pod = connect(port, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      pod.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) pod.write(head);
      pod.pipe(client);
      client.pipe(pod);
    });
    sockets.add(pod);
    pod.on('close', () => {
      sockets.delete(pod);
      client.destroy();
    });
    pod.on('error', () => client.destroy());
    client.on('error', () => pod.destroy());
    client.on('close', () => pod.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    region: options.region,
    backends: () => [...ports],
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
