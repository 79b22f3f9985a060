/**
 * Watches against the API emulator, with @kubernetes/client-node's Watch and informer:
 * resume from a resourceVersion, selector transitions, bookmarks, timeoutSeconds, 410 Expired,
 * and informers surviving dropped watches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './helpers/net.ts';
import { mergePatch, startSandbox, type Sandbox } from './helpers/apiserver.ts';

interface Seen {
  type: string;
  name?: string;
  rv?: string;
  object: any;
}

/** Starts a watch and collects its events; `done` resolves when the stream ends. */
async function collect(sb: Sandbox, path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Seen[] = [];
  let ended: ((err: unknown) => void) | undefined;
  const done = new Promise<unknown>((resolve) => (ended = resolve));
  const request = await new k8s.Watch(sb.kc).watch(
    path,
    query,
    (type, object) => events.push({ type, name: object?.metadata?.name, rv: object?.metadata?.resourceVersion, object }),
    (err) => ended!(err),
  );
  return { events, done, stop: () => request.abort() };
}

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'watch', bookmarkIntervalMs: 100, watchHistory: 50 });
});
after(() => sb.close());

const cmPath = '/api/v1/namespaces/default/configmaps';

describe('watch', () => {
  test('from a list resourceVersion: ADDED, MODIFIED, DELETED in order with growing versions', async () => {
    const list = await sb.core.listNamespacedConfigMap({ namespace: 'default' });
    const watch = await collect(sb, cmPath, { resourceVersion: list.metadata!.resourceVersion });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w1' }, data: { v: '1' } } });
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'w1', body: { data: { v: '2' } } }, mergePatch);
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'w1' });
    await waitFor(() => watch.events.length >= 3, { what: 'three events' });
    watch.stop();
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.name}`), ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    const rvs = watch.events.map((e) => Number(e.rv));
    assert.ok(rvs[0] < rvs[1] && rvs[1] < rvs[2], `versions grow: ${rvs}`);
    assert.equal(watch.events[1].object.data.v, '2');
  });

  test('resuming from a version replays only what came after it', async () => {
    const a = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'r1' } } });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'r2' } } });
    const watch = await collect(sb, cmPath, { resourceVersion: a.metadata!.resourceVersion });
    await waitFor(() => watch.events.length >= 1, { what: 'replayed event' });
    watch.stop();
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.name}`), ['ADDED r2']);
  });

  test('without a version, existing objects arrive first as ADDED', async () => {
    const watch = await collect(sb, cmPath, { labelSelector: '!nothing' });
    await waitFor(() => watch.events.some((e) => e.name === 'r2'), { what: 'synthetic ADDED' });
    watch.stop();
    assert.ok(watch.events.every((e) => e.type === 'ADDED'));
  });

  test('label selector transitions turn MODIFIED into DELETED and ADDED', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'sel', labels: { role: 'x' } } } });
    const list = await sb.core.listNamespacedConfigMap({ namespace: 'default' });
    const watch = await collect(sb, cmPath, { resourceVersion: list.metadata!.resourceVersion, labelSelector: 'role=x' });
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'sel', body: { metadata: { labels: { role: 'y' } } } }, mergePatch);
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'sel', body: { data: { ignored: 'yes' } } }, mergePatch);
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'sel', body: { metadata: { labels: { role: 'x' } } } }, mergePatch);
    await waitFor(() => watch.events.length >= 2, { what: 'transition events' });
    watch.stop();
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.object.metadata.labels.role}`), ['DELETED y', 'ADDED x']);
  });

  test('allowWatchBookmarks brings BOOKMARK events carrying a resourceVersion', async () => {
    const watch = await collect(sb, cmPath, { resourceVersion: '0', allowWatchBookmarks: true, labelSelector: 'none=here' });
    await waitFor(() => watch.events.some((e) => e.type === 'BOOKMARK'), { what: 'a bookmark' });
    watch.stop();
    const bookmark = watch.events.find((e) => e.type === 'BOOKMARK')!;
    assert.equal(bookmark.object.kind, 'ConfigMap');
    assert.match(bookmark.rv!, /^\d+$/);
  });

  test('timeoutSeconds ends the stream from the server side', async () => {
    const watch = await collect(sb, cmPath, { timeoutSeconds: 1, labelSelector: 'none=here' });
    const err = await watch.done;
    assert.equal(err, null, 'a clean end, not an error');
  });

  test('a version older than the kept history gets ERROR 410 Expired', async () => {
    const first = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'old' } } });
    for (let i = 0; i < 60; i++) await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'old', body: { data: { i: String(i) } } }, mergePatch);
    const watch = await collect(sb, cmPath, { resourceVersion: first.metadata!.resourceVersion });
    await watch.done;
    assert.equal(watch.events.length, 1);
    assert.equal(watch.events[0].type, 'ERROR');
    assert.equal(watch.events[0].object.code, 410);
    assert.equal(watch.events[0].object.reason, 'Expired');
    assert.match(watch.events[0].object.message, /^too old resource version: \d+ \(\d+\)$/);
  });
});

describe('informers', () => {
  test('an informer sees adds, updates and deletes, and keeps going after watches are dropped', async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'inf' } } });
    const informer = k8s.makeInformer(sb.kc, '/api/v1/namespaces/inf/configmaps', () => sb.core.listNamespacedConfigMap({ namespace: 'inf' }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    // client-node informers stop on most errors (a dropped watch is one): restart, as operators must.
    let stopped = false;
    informer.on('error', () => {
      // start() reports a failed relist through this same event, which schedules the next attempt.
      if (!stopped) setTimeout(() => void informer.start(), 50);
    });
    await informer.start();
    try {
      await sb.core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'a' } } });
      await waitFor(() => seen.includes('add a'), { what: 'add a' });
      sb.server.faults.dropWatches();
      await sb.core.patchNamespacedConfigMap({ namespace: 'inf', name: 'a', body: { data: { x: '1' } } }, mergePatch);
      await sb.core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'b' } } });
      await sb.core.deleteNamespacedConfigMap({ namespace: 'inf', name: 'a' });
      await waitFor(() => seen.includes('add b') && seen.includes('delete a'), { what: 'events after a dropped watch', timeoutMs: 20_000 });
      // The update of a is seen only if the informer was watching again before a was deleted;
      // otherwise its relist goes straight from a to b. Either way, nothing twice, nothing after the delete.
      assert.match(seen.filter((e) => e.endsWith(' a')).join(','), /^add a,(update a,)?delete a$/);
      assert.deepEqual(seen.filter((e) => e.endsWith(' b')), ['add b']);
      assert.deepEqual(informer.list().map((o) => o.metadata!.name), ['b']);
    } finally {
      stopped = true;
      await informer.stop();
    }
  });
});
