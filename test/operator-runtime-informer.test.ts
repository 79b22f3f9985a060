/**
 * The informer against the API emulator: it follows every change, survives dropped watches and
 * throttling without missing anything, and re-lists when its resourceVersion has expired.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { KubeClient } from '../operator/kube/client.ts';
import { pino } from 'pino';
import { Informer, type InformerOptions, type RelistReason } from '../operator/informer.ts';
import { startApiServer, type ApiServerOptions } from '../sandbox/apiserver/index.ts';
import { waitFor } from './helpers/net.ts';

const logger = pino({ level: 'silent' });
const LABEL = 'meridian.dev/cluster';

async function setup(t: { after(fn: () => Promise<void>): void }, extra: Partial<InformerOptions> = {}, serverOptions: Partial<ApiServerOptions> = {}) {
  const server = await startApiServer({ port: 0, name: 'informer-test', ...serverOptions });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const lists: RelistReason[] = [];
  const errors: unknown[] = [];
  const seen: string[] = [];
  const client = KubeClient.fromString(server.kubeconfig());
  const informer = new Informer<V1ConfigMap>({
    name: 'test/configmaps',
    client,
    resource: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
    labelSelector: LABEL,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    logger,
    onList: (reason) => lists.push(reason),
    onError: (error) => errors.push(error),
    ...extra,
  });
  informer.on({
    add: (o) => seen.push(`add ${o.metadata?.name}`),
    update: (_, o) => seen.push(`update ${o.metadata?.name}=${o.data?.v}`),
    delete: (o) => seen.push(`delete ${o.metadata?.name}`),
  });
  t.after(async () => {
    await informer.stop();
    await client.close();
    await server.close();
  });
  const create = (name: string, v = '1', labelled = true) =>
    core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, labels: labelled ? { [LABEL]: 'default.x' } : {} }, data: { v } } });
  const update = (name: string, v: string) =>
    core.replaceNamespacedConfigMap({ name, namespace: 'default', body: { metadata: { name, labels: { [LABEL]: 'default.x' } }, data: { v } } });
  const remove = (name: string) => core.deleteNamespacedConfigMap({ name, namespace: 'default' });
  /** What the server holds now, as "name=v" sorted. */
  const serverState = async () =>
    (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: LABEL })).items.map((c) => `${c.metadata?.name}=${c.data?.v}`).sort();
  const cacheState = () => informer.list().map((c) => `${c.metadata?.name}=${c.data?.v}`).sort();
  return { server, informer, core, lists, errors, seen, create, update, remove, serverState, cacheState };
}

test('an informer lists what exists, then follows adds, updates and deletes of matching objects only', async (t) => {
  const s = await setup(t);
  await s.create('before');
  await s.create('unlabelled', '1', false);
  s.informer.start();
  await s.informer.waitForSync();
  assert.deepEqual(s.cacheState(), ['before=1']);
  await s.create('after');
  await s.update('before', '2');
  await s.remove('after');
  await waitFor(() => s.seen.includes('delete after'), { what: 'the delete event' });
  assert.deepEqual(s.seen, ['add before', 'add after', 'update before=2', 'delete after']);
  assert.deepEqual(s.cacheState(), ['before=2']);
  assert.deepEqual(s.lists, ['initial'], 'no re-list was needed');
});

test('watches dropped by the server again and again are resumed from the last resourceVersion and nothing is missed', async (t) => {
  const s = await setup(t);
  s.informer.start();
  await s.informer.waitForSync();
  for (let i = 0; i < 20; i++) {
    await s.create(`cm-${i}`, String(i));
    if (i % 3 === 0) s.server.faults.dropWatches();
    if (i % 4 === 0 && i > 0) await s.remove(`cm-${i - 1}`);
  }
  s.server.faults.dropWatches();
  await s.update('cm-0', 'last');
  const expected = await s.serverState();
  await waitFor(() => JSON.stringify(s.cacheState()) === JSON.stringify(expected), { what: 'the cache to match the server', timeoutMs: 15_000 });
  assert.equal(s.lists.filter((r) => r === 'expired' || r === 'error').length, 0, 'resumed, not re-listed');
});

test('throttled and failing list requests are retried with backoff until the informer syncs', async (t) => {
  const s = await setup(t);
  await s.create('a');
  s.server.faults.failNext(3, 429, 0);
  s.informer.start();
  await s.informer.waitForSync();
  assert.deepEqual(s.cacheState(), ['a=1']);
  assert.ok(s.errors.length >= 1, 'the failures were seen and counted');
  assert.ok(s.lists.length >= 2 && s.lists.at(-1) === 'error', `re-listed after errors: ${s.lists.join(',')}`);
});

test('a watch that stays silent past the limit makes the informer list again', async (t) => {
  const s = await setup(t, { silenceLimitMs: 300, watchTimeoutSeconds: 60 });
  s.informer.start();
  await s.informer.waitForSync();
  await waitFor(() => s.lists.includes('silent'), { what: 'a watchdog re-list', timeoutMs: 10_000 });
  await s.create('late');
  await waitFor(() => s.cacheState().includes('late=1'), { what: 'the informer to keep working after the re-list' });
});

test('a watch resumed from a resourceVersion the server no longer keeps (410) makes the informer list again and converge', async (t) => {
  // Few kept events and no bookmarks: unrelated writes push the informer's resourceVersion out of history.
  const s = await setup(t, {}, { watchHistory: 5, bookmarkIntervalMs: 600_000 });
  await s.create('kept');
  s.informer.start();
  await s.informer.waitForSync();
  for (let i = 0; i < 10; i++) await s.create(`unrelated-${i}`, '1', false);
  s.server.faults.dropWatches();
  await waitFor(() => s.lists.includes('expired'), { what: 'a re-list after 410', timeoutMs: 10_000 });
  await s.create('after-410');
  await s.update('kept', '2');
  const expected = await s.serverState();
  await waitFor(() => JSON.stringify(s.cacheState()) === JSON.stringify(expected), { what: 'the cache to match the server after the re-list' });
});

test('the cache keeps objects without managedFields by default, and only metadata when asked', async (t) => {
  const full = await setup(t);
  await full.create('kept');
  full.informer.start();
  await full.informer.waitForSync();
  const cached = full.informer.list()[0];
  assert.equal(cached.metadata?.managedFields, undefined);
  assert.deepEqual(cached.data, { v: '1' });

  const { metadataOnly } = await import('../operator/informer.ts');
  const slim = await setup(t, { transform: metadataOnly });
  await slim.create('slim');
  slim.informer.start();
  await slim.informer.waitForSync();
  await slim.update('slim', '2');
  await waitFor(() => slim.seen.includes('update slim=undefined'), { what: 'the update of a metadata-only object' });
  assert.equal(slim.informer.list()[0].data, undefined);
  assert.equal(slim.informer.list()[0].metadata?.labels?.[LABEL], 'default.x');
});
