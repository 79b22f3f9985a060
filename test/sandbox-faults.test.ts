/**
 * Fault injection in the API emulator, programmatic and over HTTP (/_sandbox): failing requests
 * with Retry-After, latency, dropped watches, refused connections (a region going dark and
 * coming back on the same port), and the request counters tests use to assert "no writes".
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './helpers/net.ts';
import { portOpen } from './helpers/services.ts';
import { startSandbox, statusOf, type Sandbox } from './helpers/apiserver.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'faults' });
});
after(() => sb.close());

describe('programmatic faults', () => {
  test('failNext: the next N requests fail with the status and Retry-After, then all is well', async () => {
    sb.server.faults.failNext(2, 503, 3);
    for (let i = 0; i < 2; i++) {
      const response = await sb.raw('GET', '/api/v1/namespaces/default/configmaps');
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('retry-after'), '3');
      assert.equal(response.body.reason, 'ServiceUnavailable');
      assert.equal(response.body.details.retryAfterSeconds, 3);
    }
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/configmaps')).status, 200);
  });

  test('429 reaches client-node callers as an error with that code', async () => {
    sb.server.faults.failNext(1, 429, 1);
    await assert.rejects(sb.core.listNamespacedConfigMap({ namespace: 'default' }), (error) => statusOf(error) === 429);
    await sb.core.listNamespacedConfigMap({ namespace: 'default' });
  });

  // How long the delay is, as a client sees it, is measured by `npm run bench -- sandbox`.
  test('setLatency: delayed requests are still answered in full; a negative latency is refused', async () => {
    sb.server.faults.setLatency(150);
    try {
      const namespace = await sb.core.readNamespace({ name: 'default' });
      assert.equal(namespace.status!.phase, 'Active');
    } finally {
      sb.server.faults.setLatency(0);
    }
    assert.throws(() => sb.server.faults.setLatency(-1), RangeError);
  });

  test('dropWatches ends open watches with an error on the client side', async () => {
    let result: unknown = 'open';
    await new k8s.Watch(sb.kc).watch('/api/v1/namespaces/default/configmaps', {}, () => undefined, (err) => (result = err));
    sb.server.faults.dropWatches();
    await waitFor(() => result !== 'open', { what: 'watch ended' });
    assert.ok(result instanceof Error, `ended with an error: ${String(result)}`);
  });

  test('stallWatches: open watches go silent while new ones still see changes', async () => {
    const stalled: string[] = [];
    const stalledWatch = await new k8s.Watch(sb.kc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: String((await sb.core.listNamespacedConfigMap({ namespace: 'default' })).metadata!.resourceVersion) }, (type, o) => stalled.push(`${type} ${o.metadata.name}`), () => undefined);
    sb.server.faults.stallWatches();
    const fresh: string[] = [];
    const freshWatch = await new k8s.Watch(sb.kc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: String((await sb.core.listNamespacedConfigMap({ namespace: 'default' })).metadata!.resourceVersion) }, (type, o) => fresh.push(`${type} ${o.metadata.name}`), () => undefined);
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'unseen' } } });
    await waitFor(() => fresh.includes('ADDED unseen'), { what: 'the new watch sees the change' });
    freshWatch.abort();
    stalledWatch.abort();
    assert.deepEqual(stalled, [], 'the stalled watch received nothing');
  });

  test('refuseConnections: the port goes dark, then serves again with the same data', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'survivor' } } });
    let watchEnded = false;
    await new k8s.Watch(sb.kc).watch('/api/v1/namespaces/default/configmaps', {}, () => undefined, () => (watchEnded = true));
    await sb.server.faults.refuseConnections(true);
    assert.equal(await portOpen(sb.server.port), false, 'nothing listens');
    await assert.rejects(sb.core.readNamespace({ name: 'default' }));
    await waitFor(() => watchEnded, { what: 'open watch cut' });
    await sb.server.faults.refuseConnections(false);
    const back = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'survivor' });
    assert.equal(back.metadata!.name, 'survivor');
  });

  test('forbid: a rule refuses exactly its verb on its object with RBAC\'s 403, and clears', async () => {
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'guarded' }, stringData: { k: 'v' } } });
    sb.server.faults.forbid([{ verb: 'get', resource: 'secrets', namespace: 'default', name: 'guarded' }]);
    try {
      const refused = await sb.raw('GET', '/api/v1/namespaces/default/secrets/guarded');
      assert.equal(refused.status, 403);
      assert.equal(refused.body.reason, 'Forbidden');
      assert.equal(refused.body.message, 'secrets "guarded" is forbidden: User "faults" cannot get resource "secrets" in API group "" in the namespace "default"');
      assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/secrets')).status, 200, 'list is another verb');
      assert.equal((await sb.raw('PATCH', '/api/v1/namespaces/default/secrets/guarded', { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' })).status, 200, 'patch is another verb');
      assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/configmaps')).status, 200);
    } finally {
      sb.server.faults.forbid([]);
    }
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/secrets/guarded')).status, 200);
    assert.throws(() => sb.server.faults.forbid([{ verb: 'read' as 'get', resource: 'secrets' }]), RangeError);
  });

  test('watchCount: open watches per resource, gone once they end', async () => {
    const before = sb.server.watchCount();
    const watch = await new k8s.Watch(sb.kc).watch('/apis/apps/v1/namespaces/default/deployments', {}, () => undefined, () => undefined);
    await waitFor(() => (sb.server.watchCount()['deployments.apps'] ?? 0) === (before['deployments.apps'] ?? 0) + 1, { what: 'the watch counted' });
    watch.abort();
    await waitFor(() => (sb.server.watchCount()['deployments.apps'] ?? 0) === (before['deployments.apps'] ?? 0), { what: 'the ended watch uncounted' });
  });

  test('requestCount counts requests by method and writes', async () => {
    const writes = sb.server.requestCount({ writesOnly: true });
    const gets = sb.server.requestCount({ method: 'GET' });
    const posts = sb.server.requestCount({ method: 'post' });
    await sb.core.readNamespace({ name: 'default' });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'counted' } } });
    assert.equal(sb.server.requestCount({ writesOnly: true }), writes + 1);
    assert.equal(sb.server.requestCount({ method: 'GET' }), gets + 1);
    assert.equal(sb.server.requestCount({ method: 'post' }), posts + 1, 'the method is matched in any case');
  });
});

describe('faults over HTTP', () => {
  test('/_sandbox needs the token too', async () => {
    const response = await fetch(`${sb.server.url}/_sandbox/requests`);
    assert.equal(response.status, 401);
  });

  test('fail-next and the request counter through /_sandbox', async () => {
    const set = await sb.raw('POST', '/_sandbox/faults/fail-next', { body: { n: 1, status: 500 } });
    assert.equal(set.status, 200);
    assert.equal((await sb.raw('GET', '/api/v1/namespaces')).status, 500);
    assert.equal((await sb.raw('GET', '/api/v1/namespaces')).status, 200);
    const count = await sb.raw('GET', '/_sandbox/requests?writesOnly=true');
    assert.equal(count.body.count, sb.server.requestCount({ writesOnly: true }));
    const bad = await sb.raw('POST', '/_sandbox/faults/fail-next', { body: { n: 1, status: 404 } });
    assert.equal(bad.status, 400);
  });

  test('forbid and the watch counts through /_sandbox', async () => {
    const set = await sb.raw('POST', '/_sandbox/faults/forbid', { body: { rules: [{ verb: 'list', resource: 'configmaps' }] } });
    assert.equal(set.status, 200);
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/kube-system/configmaps')).status, 403);
    assert.equal((await sb.raw('POST', '/_sandbox/faults/forbid', { body: { rules: [] } })).status, 200);
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/kube-system/configmaps')).status, 200);
    assert.equal((await sb.raw('POST', '/_sandbox/faults/forbid', { body: { rules: [{ verb: 'read', resource: 'secrets' }] } })).status, 400);
    assert.deepEqual((await sb.raw('GET', '/_sandbox/watches')).body.counts, sb.server.watchCount());
  });

  test('refuse for N seconds, then the same port serves again', async () => {
    const response = await sb.raw('POST', '/_sandbox/faults/refuse', { body: { seconds: 1 } });
    assert.equal(response.status, 200);
    await waitFor(async () => !(await portOpen(sb.server.port)), { what: 'port closed' });
    await waitFor(() => portOpen(sb.server.port), { what: 'port open again', timeoutMs: 15_000 });
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/default')).status, 200);
  });
});
