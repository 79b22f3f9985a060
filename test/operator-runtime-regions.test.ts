import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import { ManualClock } from '../operator/clock.ts';
import { KubeClient } from '../operator/kube/client.ts';
import { KubeApiError } from '../operator/kube/errors.ts';
import { KubeconfigRegionPool, regionKubeClient } from '../operator/regions.ts';
import { RegionConfigError } from '../operator/types.ts';

const logger = pino({ level: 'silent' });

function kubeconfigYaml(server: string, user = 'admin', extraUser = ''): string {
  return `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: '${server}'}}]
users: [{name: ${user}, user: {token: t0k3n${extraUser}}}]
contexts: [{name: ctx, context: {cluster: c, user: ${user}}}]
current-context: ctx
`;
}

function secretWith(key: string, text: string, resourceVersion = '1'): V1Secret {
  return { metadata: { name: 's', namespace: 'hub', resourceVersion }, data: { [key]: Buffer.from(text).toString('base64') } };
}

function poolWith(secrets: Map<string, V1Secret>, clock = new ManualClock(), changes: string[] = []) {
  return new KubeconfigRegionPool({
    hub: new KubeClient({ context: 'hub', cluster: 'hub', user: 'hub', server: 'http://127.0.0.1:1', namespace: 'default', insecureSkipTlsVerify: false, auth: { kind: 'none' } }),
    logger,
    clock,
    readSecret: async (namespace, name) => secrets.get(`${namespace}/${name}`),
    onHealthChange: (client, health) => changes.push(`${client.region}:${health}`),
  });
}

test('two regions whose kubeconfigs use the same user name get distinct clients and connection pools', async () => {
  const secrets = new Map([
    ['hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:1'))],
    ['hub/west', secretWith('config', kubeconfigYaml('http://127.0.0.1:2'))],
  ]);
  const pool = poolWith(secrets);
  const east = await pool.client('hub', { name: 'us-east1', kubeconfigSecretRef: { name: 'east', key: 'config' } });
  const west = await pool.client('hub', { name: 'eu-west1', kubeconfigSecretRef: { name: 'west', key: 'config' } });
  assert.notEqual(east.kube, west.kube);
  assert.equal(east.kube.server, 'http://127.0.0.1:1');
  assert.equal(west.kube.server, 'http://127.0.0.1:2');
  assert.equal(await pool.client('hub', { name: 'us-east1', kubeconfigSecretRef: { name: 'east', key: 'config' } }), east, 'cached');
});

test('a changed kubeconfig Secret rebuilds the client; an unchanged one does not', async () => {
  const secrets = new Map([['hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:1'))]]);
  const pool = poolWith(secrets);
  const ref = { name: 'us-east1', kubeconfigSecretRef: { name: 'east', key: 'config' } };
  const first = await pool.client('hub', ref);
  secrets.set('hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:1'), '2'));
  assert.equal(await pool.client('hub', ref), first, 'same bytes, same client');
  secrets.set('hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:9'), '3'));
  const second = await pool.client('hub', ref);
  assert.notEqual(second, first);
  assert.equal(second.kube.server, 'http://127.0.0.1:9');
  assert.equal(pool.clients().length, 1);
});

test('a missing Secret, a missing key and a bad kubeconfig each fail with their own reason', async () => {
  const secrets = new Map([
    ['hub/nokey', secretWith('other', 'x')],
    ['hub/garbage', secretWith('config', 'clusters: [{name: c}]\ncurrent-context: nope\n')],
    ['hub/exec', secretWith('config', kubeconfigYaml('https://x').replace('{token: t0k3n}', '{exec: {command: /bin/sh, apiVersion: client.authentication.k8s.io/v1}}'))],
  ]);
  const pool = poolWith(secrets);
  const reasonOf = async (name: string) => {
    const error = await pool.client('hub', { name: 'r', kubeconfigSecretRef: { name, key: 'config' } }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof RegionConfigError, `expected a RegionConfigError for ${name}`);
    return error.reason;
  };
  assert.equal(await reasonOf('absent'), 'KubeconfigSecretMissing');
  assert.equal(await reasonOf('nokey'), 'KubeconfigKeyMissing');
  assert.equal(await reasonOf('garbage'), 'KubeconfigInvalid');
  assert.equal(await reasonOf('exec'), 'KubeconfigInvalid', 'exec plugins from a Secret are refused');
});

test('a region turns Unknown only after consecutive failures and Reachable only after consecutive successes', async () => {
  const changes: string[] = [];
  const clock = new ManualClock();
  const pool = poolWith(new Map([['hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:1'))]]), clock, changes);
  const client = await pool.client('hub', { name: 'us-east1', kubeconfigSecretRef: { name: 'east', key: 'config' } });
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  client.recordFailure(refused);
  client.recordFailure(refused);
  client.recordSuccess();
  client.recordFailure(refused);
  client.recordFailure(refused);
  assert.equal(client.health(), 'Reachable', 'a success in between resets the count');
  client.recordFailure(new KubeApiError('GET', '/x', 404, 'not found', {}));
  client.recordFailure(new KubeApiError('PUT', '/x', 409, 'conflict', {}));
  assert.equal(client.health(), 'Reachable', 'an HTTP answer below 500 proves the region reachable');
  client.recordFailure(refused);
  client.recordFailure(new KubeApiError('GET', '/x', 503, 'unavailable', {}));
  client.recordFailure(refused);
  assert.equal(client.health(), 'Unknown');
  client.recordSuccess();
  assert.equal(client.health(), 'Unknown', 'one success is not enough');
  client.recordSuccess();
  assert.equal(client.health(), 'Reachable');
  assert.deepEqual(changes, ['us-east1:Unknown', 'us-east1:Reachable']);
});

test('a region failing for longer than unknownAfterMs turns Unknown even with few failures', async () => {
  const clock = new ManualClock();
  const pool = poolWith(new Map([['hub/east', secretWith('config', kubeconfigYaml('http://127.0.0.1:1'))]]), clock);
  const client = await pool.client('hub', { name: 'us-east1', kubeconfigSecretRef: { name: 'east', key: 'config' } });
  client.recordFailure(new Error('socket hang up'));
  clock.advance(31_000);
  client.recordFailure(new Error('socket hang up'));
  assert.equal(client.health(), 'Unknown');
});

test('a region client keeps the current context of the kubeconfig it was given', () => {
  const kube = regionKubeClient(kubeconfigYaml('https://example.invalid'), 'r');
  assert.equal(kube.target.context, 'ctx');
  assert.equal(kube.target.user, 'admin');
  assert.equal(kube.target.insecureSkipTlsVerify, false);
  assert.deepEqual(kube.target.auth, { kind: 'token', token: 't0k3n' });
});

test('calls to one region share one keep-alive connection pool', async () => {
  const connections = { count: 0 };
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ major: '1', minor: '33', gitVersion: 'v1.33.0' }));
  });
  server.on('connection', () => (connections.count += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const calls = 20;
  try {
    const perCall = async (kube: KubeClient) => {
      connections.count = 0;
      // One after another: a pool needs only one connection for them.
      for (let i = 0; i < calls; i++) await kube.version();
      return connections.count;
    };
    const shared = regionKubeClient(kubeconfigYaml(`http://127.0.0.1:${port}`), 'r');
    assert.equal(shared.agentCount, 0, 'no pool before the first call');
    assert.equal(await perCall(shared), 1, 'twenty calls, one connection');
    assert.equal(await perCall(shared), 0, 'the next calls open no connection at all');
    assert.equal(shared.agentCount, 1);
    await shared.close();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
