/**
 * The operator's Kubernetes client against servers that misbehave on purpose. A region's
 * kubeconfig comes from a tenant's Secret, so the API server it names may be hostile: bodies and
 * watch lines without end, events a handler cannot digest, a port that accepts and stays silent,
 * servers that redirect, server URLs that try to move the API path, exec plugins that will not
 * die or print secrets. Each scenario runs against a real loopback server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { KubeClient, type KubeClientOptions } from '../operator/kube/client.ts';
import { KubeApiError, KubeClientError, KubeConfigError } from '../operator/kube/errors.ts';
import { Informer } from '../operator/informer.ts';
import { PooledRegionClient, REGION_POOL_DEFAULTS } from '../operator/regions.ts';
import { systemClock } from '../operator/clock.ts';
import { OperatorError } from '../operator/errors.ts';
import { isConnectivityError } from '../operator/reconcile/errors.ts';
import { waitFor } from './helpers/net.ts';
import { alive } from './helpers/platform.ts';
import { kubeconfig as kubeconfigFor, tempDir } from './helpers/kube-config.ts';

const TOKEN = 'hostile-test-token';
const logger = pino({ level: 'silent' });

const kubeconfig = (server: string, user: Record<string, unknown> = { token: TOKEN }) => kubeconfigFor(server, user);

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** A loopback HTTP server that records each request's method and URL. */
async function rawServer(t: { after(fn: () => Promise<void>): void }, handler: Handler): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    handler(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A port that accepts connections and never says a word; `closed` counts connections the client gave up. */
async function silentServer(t: { after(fn: () => Promise<void>): void }) {
  const sockets: Socket[] = [];
  let closed = 0;
  const server = createTcpServer((socket) => {
    sockets.push(socket);
    socket.resume(); // read (and drop) the request, so that the client's FIN is seen
    socket.on('close', () => (closed += 1));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted: () => sockets.length, closed: () => closed };
}

function client(t: { after(fn: () => Promise<void>): void }, server: string, options: KubeClientOptions = {}, user?: Record<string, unknown>): KubeClient {
  const kube = KubeClient.fromString(kubeconfig(server, user), {}, options);
  t.after(() => kube.close());
  return kube;
}

const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

test('a response body past maxResponseBytes fails with KUBE_RESPONSE_TOO_LARGE, streamed or declared, and the client keeps working', async (t) => {
  const server = await rawServer(t, (request, response) => {
    if (request.url === '/version') return response.end('{"gitVersion":"v1.31.0"}');
    if (request.url === '/declared') {
      response.writeHead(200, { 'content-length': String(10 * 1024 * 1024 * 1024) });
      return response.write('{');
    }
    // Chunked, no length: 64 KiB at a time until the client hangs up.
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!response.destroyed && response.write(chunk));
      if (!response.destroyed) response.once('drain', pump);
    };
    response.on('close', () => response.removeAllListeners('drain'));
    pump();
  });
  const kube = client(t, server.url, { maxResponseBytes: 1024 * 1024 });
  const streamed = await rejection(kube.request('GET', '/endless'));
  assert.ok(streamed instanceof KubeClientError, `got ${String(streamed)}`);
  assert.equal(streamed.code, 'KUBE_RESPONSE_TOO_LARGE');
  const declared = await rejection(kube.request('GET', '/declared'));
  assert.ok(declared instanceof KubeClientError);
  assert.equal(declared.code, 'KUBE_RESPONSE_TOO_LARGE');
  assert.equal((await kube.version()).gitVersion, 'v1.31.0', 'the pool still serves requests after closing the oversized ones');
});

test('a watch line past maxWatchLineBytes ends the watch with KUBE_WATCH_LINE_TOO_LARGE; a line split mid-character arrives whole', async (t) => {
  const name = 'naïve-ünïcödé';
  const event = Buffer.from(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name } } })}\n`);
  const server = await rawServer(t, (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    if (request.url?.startsWith('/split')) {
      // One byte per write, so every multi-byte character is split across chunks.
      let i = 0;
      const next = () => (i < event.length ? response.write(event.subarray(i, ++i), next) : response.end());
      return next();
    }
    const chunk = Buffer.alloc(16 * 1024, 'y');
    let sent = 0;
    const pump = () => {
      while (!response.destroyed && sent < 4 * 1024 * 1024) {
        sent += chunk.length;
        if (!response.write(chunk)) return response.once('drain', pump);
      }
    };
    pump();
  });
  const kube = client(t, server.url, { maxWatchLineBytes: 1024 * 1024 });
  const names: string[] = [];
  await kube.watch('/split', {}, (_type, object) => names.push((object as { metadata: { name: string } }).metadata.name));
  assert.deepEqual(names, [name]);
  const error = await rejection(kube.watch('/endless', {}, () => assert.fail('no event can be complete')));
  assert.ok(error instanceof KubeClientError, `got ${String(error)}`);
  assert.equal(error.code, 'KUBE_WATCH_LINE_TOO_LARGE');
});

test('an event handler that throws (an ADDED event whose object is null) fails the watch with its error instead of crashing the process', async (t) => {
  const server = await rawServer(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"type":"ADDED","object":null}\n');
  });
  const kube = client(t, server.url);
  const error = await rejection(kube.watch('/api/v1/configmaps', {}, (_type, object) => void (object as { metadata: unknown }).metadata));
  assert.ok(error instanceof TypeError, `the handler's own error: got ${String(error)}`);
});

test('an informer ignores and counts list items and watch events without an object, and keeps following the others', async (t) => {
  const server = await rawServer(t, (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    if (!request.url?.includes('watch=true')) {
      return response.end(JSON.stringify({ kind: 'ConfigMapList', metadata: { resourceVersion: '1' }, items: [null, { metadata: { name: 'listed', namespace: 'default', resourceVersion: '1' } }] }));
    }
    response.write('{"type":"ADDED","object":null}\n{"type":"MODIFIED","object":"text"}\n{"type":"DELETED","object":{"kind":"NoMetadata"}}\n');
    response.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'watched', namespace: 'default', resourceVersion: '2' } } })}\n`);
  });
  const kube = client(t, server.url);
  const informer = new Informer({ name: 'hostile/configmaps', client: kube, resource: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' }, logger, backoffInitialMs: 20, backoffMaxMs: 100 });
  const added: string[] = [];
  informer.on({ add: (object) => added.push(object.metadata?.name ?? '') });
  informer.start();
  t.after(() => informer.stop());
  await waitFor(() => added.includes('watched'), { what: 'the valid watch event' });
  assert.deepEqual(added, ['listed', 'watched']);
  assert.equal(informer.malformedObjects, 4, 'one list item and three watch events were ignored');
});

test('a server that accepts and stays silent: requests time out by default, region calls abort their request, and an informer list gives up', async (t) => {
  const silent = await silentServer(t);
  const timed = client(t, silent.url, { requestTimeoutMs: 200 });
  const error = await rejection(timed.version());
  assert.ok(error instanceof Error && error.name === 'TimeoutError', `a default per-request timeout: got ${String(error)}`);
  await waitFor(() => silent.closed() >= 1, { what: 'the timed-out connection to be closed' });

  // No client timeout at all: only the region call's own timeout bounds the request, and it aborts it.
  const untimed = client(t, silent.url, { requestTimeoutMs: 0 });
  const region = new PooledRegionClient('silent', 'silent@test', untimed, 'fp', REGION_POOL_DEFAULTS, systemClock, () => {});
  const before = silent.closed();
  const timeout = await rejection(region.call((signal) => untimed.version({ signal }), 200));
  assert.ok(timeout instanceof OperatorError && timeout.code === 'REGION_CALL_TIMEOUT', `got ${String(timeout)}`);
  await waitFor(() => silent.closed() > before, { what: 'the region call to close its connection' });

  const errors: unknown[] = [];
  const informer = new Informer({ name: 'silent/configmaps', client: untimed, resource: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' }, logger, listTimeoutMs: 200, backoffInitialMs: 10_000, onError: (e) => errors.push(e) });
  informer.start();
  t.after(() => informer.stop());
  const listError = await waitFor(() => errors[0], { what: 'the list to time out' });
  assert.equal((listError as Error).name, 'TimeoutError');
});

function writePlugin(dir: string, body: string): string {
  const file = join(dir, `plugin-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, `import { appendFileSync, writeFileSync, readFileSync } from 'node:fs';\nconst info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);\n${body}\n`);
  return file;
}

const credential = (token: string, expiresInMs = 3_600_000) =>
  `console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: ${JSON.stringify(token)}, expirationTimestamp: new Date(Date.now() + ${expiresInMs}).toISOString() } }));`;

function exec(plugin: string, args: string[] = []) {
  return { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin, ...args] } };
}


test('an exec plugin that ignores SIGTERM is killed when its time is up; a request waiting on it gives up at its own timeout', async (t) => {
  const dir = tempDir(t, 'kube-hostile');
  const pidFile = join(dir, 'pid');
  const plugin = writePlugin(dir, `process.on('SIGTERM', () => {}); writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`);
  const server = await rawServer(t, (_request, response) => response.end('{}'));
  const kube = client(t, server.url, { execTimeoutMs: 1500 }, exec(plugin));
  const impatient = await rejection(kube.version({ timeoutMs: 100 }));
  assert.ok(impatient instanceof Error && impatient.name === 'TimeoutError', `the request's own timeout, not the plugin's: got ${String(impatient)}`);
  const failed = await rejection(kube.version());
  assert.ok(failed instanceof KubeConfigError && failed.code === 'EXEC_CREDENTIAL_FAILED', `got ${String(failed)}`);
  assert.match(failed.message, /killed/);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await waitFor(() => !alive(pid), { what: 'the plugin process to be gone' });
  assert.deepEqual(server.requests, [], 'no request went out without credentials');
});

test('an exec plugin reads an empty stdin (it is closed at once), and its failure names the command and exit code, never its arguments or stderr', async (t) => {
  const dir = tempDir(t, 'kube-hostile');
  const server = await rawServer(t, (_request, response) => response.end('{"gitVersion":"v1"}'));
  const reader = writePlugin(dir, `const input = readFileSync(0, 'utf8'); if (input !== '') process.exit(9); ${credential(TOKEN)}`);
  assert.equal((await client(t, server.url, {}, exec(reader)).version()).gitVersion, 'v1');

  const leaky = writePlugin(dir, `console.error('bad secret ' + process.argv[2]); process.exit(3);`);
  const error = await rejection(client(t, server.url, {}, exec(leaky, ['--oidc-client-secret=hunter2'])).version());
  assert.ok(error instanceof KubeConfigError && error.code === 'EXEC_CREDENTIAL_FAILED', `got ${String(error)}`);
  assert.match(error.message, /exited with code 3/);
  assert.equal(error.cause, undefined);
  assert.ok(!inspect(error, { depth: 5 }).includes('hunter2'), 'the secret argument appears nowhere in the error');
});

test('an exec credential expiring within the renewal margin is used, not re-run for every request; a 401 through pods/proxy keeps it', async (t) => {
  const dir = tempDir(t, 'kube-hostile');
  const runs = join(dir, 'runs');
  writeFileSync(runs, '');
  const plugin = writePlugin(dir, `appendFileSync(${JSON.stringify(runs)}, 'run\\n'); ${credential(TOKEN, 8_000)}`);
  const server = await rawServer(t, (request, response) => {
    if (request.url?.includes('/proxy/')) {
      response.writeHead(401);
      return response.end('the pod wants its own login');
    }
    response.writeHead(request.headers.authorization === `Bearer ${TOKEN}` ? 200 : 401);
    response.end('{}');
  });
  const kube = client(t, server.url, {}, exec(plugin));
  for (let i = 0; i < 3; i++) await kube.version();
  const proxied = await kube.send('GET', '/api/v1/namespaces/default/pods/gateway-0:8080/proxy/loadz');
  assert.equal(proxied.status, 401, "the pod's answer is returned as it came");
  await kube.version();
  const count = readFileSync(runs, 'utf8').trim().split('\n').length;
  assert.equal(count, 1, 'one plugin run for four API requests and a proxied 401');
});

test('a server URL with a query, a fragment or credentials is refused; a path prefix is kept before every API path', async (t) => {
  for (const server of ['http://127.0.0.1:1/?x=', 'http://127.0.0.1:1?', 'http://127.0.0.1:1/#', 'http://user:pass@127.0.0.1:1', 'ftp://127.0.0.1:1']) {
    assert.throws(() => KubeClient.fromString(kubeconfig(server)), (error: unknown) => error instanceof KubeConfigError && error.code === 'KUBECONFIG_INVALID_SERVER', server);
  }
  const server = await rawServer(t, (_request, response) => response.end('{"items":[]}'));
  const kube = client(t, `${server.url}/prefix/`);
  await kube.version();
  await kube.list('v1', 'ConfigMap', { namespace: 'default', labelSelector: 'a=b' });
  assert.deepEqual(server.requests, ['GET /prefix/version', 'GET /prefix/api/v1/namespaces/default/configmaps?labelSelector=a%3Db']);
});

test('an empty, "." or ".." object or namespace name is refused before any request, so a delete never reaches a collection', async (t) => {
  const server = await rawServer(t, (_request, response) => response.end('{}'));
  const kube = client(t, server.url);
  const attempts = [
    kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '' } }),
    kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '..', namespace: 'default' } }),
    kube.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: '.' } }),
    kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: '..' } }),
  ];
  for (const attempt of attempts) {
    const error = await rejection(attempt);
    assert.ok(error instanceof KubeClientError && error.code === 'KUBE_OBJECT_NAME_REQUIRED', `got ${String(error)}`);
    assert.equal(isConnectivityError(error), false, 'a request refused here says nothing of the region: it does not count against its health');
  }
  assert.deepEqual(server.requests, []);
});

test('a redirect is an error, not a success, and a closed client refuses requests without making a new pool', async (t) => {
  const server = await rawServer(t, (request, response) => {
    if (request.url === '/version') return response.end('{"gitVersion":"v1"}');
    response.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
    response.end();
  });
  const kube = client(t, server.url);
  const redirected = await rejection(kube.read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'moved' } }));
  assert.ok(redirected instanceof KubeApiError, `got ${String(redirected)}`);
  assert.equal(redirected.statusCode, 302);
  await kube.version();
  assert.equal(kube.agentCount, 1);
  await kube.close();
  const closed = await rejection(kube.version());
  assert.ok(closed instanceof KubeClientError && closed.code === 'KUBE_CLIENT_CLOSED', `got ${String(closed)}`);
  assert.equal(kube.agentCount, 1, 'no pool was made after close()');
});
