/**
 * Events as kube-apiserver serves them: core/v1 and events.k8s.io/v1 are one resource stored in
 * the core form (pkg/apis/events/v1/conversion.go), and `kubectl get events` gets the columns
 * of the server's event printer (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE). Checked through
 * client-node, raw Table requests, kubectl and the official Python client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { runPython, skipUnlessPythonKubernetes } from './helpers/kube-python.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless } from './helpers/services.ts';

let sb: Sandbox;
let tls: Sandbox;
let dir: string;
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

before(async () => {
  sb = await startSandbox({ name: 'conformance-events' });
  dir = mkdtempSync(join(tmpdir(), 'conformance-events-'));
  await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  const events = sb.kc.makeApiClient(k8s.EventsV1Api);
  await events.createNamespacedEvent({
    namespace: 'default',
    body: {
      metadata: { name: 'web.1' },
      eventTime: new Date('2026-01-01T00:00:00Z') as unknown as k8s.V1MicroTime,
      reportingController: 'meridian.dev/operator',
      reportingInstance: 'operator-0',
      action: 'Reconcile',
      reason: 'Applied',
      type: 'Normal',
      note: 'applied the gateway',
      regarding: { kind: 'Deployment', name: 'web', namespace: 'default' },
    },
  });
});
after(async () => {
  await sb?.close();
  await tls?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('an events.k8s.io/v1 Event is a core/v1 Event with the fields renamed, and back', async () => {
  const core = await sb.core.readNamespacedEvent({ namespace: 'default', name: 'web.1' });
  assert.deepEqual([core.involvedObject.name, core.message, core.reportingComponent, core.reason], ['web', 'applied the gateway', 'meridian.dev/operator', 'Applied']);
  await sb.core.patchNamespacedEvent({ namespace: 'default', name: 'web.1', body: { message: 'changed through core' } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  const events = sb.kc.makeApiClient(k8s.EventsV1Api);
  const back = await events.readNamespacedEvent({ namespace: 'default', name: 'web.1' });
  assert.deepEqual([back.note, back.regarding?.name, (back as { message?: string }).message], ['changed through core', 'web', undefined]);
  const listed = await events.listNamespacedEvent({ namespace: 'default', fieldSelector: 'regarding.name=web' });
  assert.deepEqual(listed.items.map((e) => e.metadata?.name), ['web.1']);
});

test('a Table of events has the server printer\'s columns, Name only at priority 1', async () => {
  const table = await sb.raw('GET', '/api/v1/namespaces/default/events', { accept: TABLE });
  const columns = table.body.columnDefinitions.map((c: { name: string; priority: number }) => `${c.name}:${c.priority}`);
  assert.deepEqual(columns, ['Last Seen:0', 'Type:0', 'Reason:0', 'Object:0', 'Message:0', 'Name:1']);
  const [row] = table.body.rows;
  assert.deepEqual(row.cells.slice(1), ['Normal', 'Applied', 'deployment/web', 'changed through core', 'web.1']);
  assert.match(row.cells[0], /^\d+(s|m|h|d)/);
});

test('kubectl get events prints LAST SEEN, TYPE, REASON, OBJECT, MESSAGE', { skip: skipUnless('kubectl', 'kubectl get events') }, async () => {
  tls = await startSandbox({ name: 'conformance-events-tls', tls: true });
  await tls.server.writeKubeconfig(join(dir, 'tls-kubeconfig'));
  const kubectl = (...args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile('kubectl', ['--kubeconfig', join(dir, 'tls-kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { timeout: 60_000, env: { ...process.env, HOME: dir } }, (error, stdout, stderr) =>
        error ? reject(new Error(stderr)) : resolve(stdout),
      ),
    );
  await kubectl('create', 'configmap', 'c');
  const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'c.1' }, involvedObject: { kind: 'ConfigMap', name: 'c', namespace: 'default' }, reason: 'Seen', type: 'Warning', message: 'looked at it', lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  writeFileSync(join(dir, 'event.json'), JSON.stringify(event));
  await kubectl('create', '--raw', '/api/v1/namespaces/default/events', '-f', join(dir, 'event.json'));
  const out = await kubectl('get', 'events');
  assert.match(out, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
  assert.match(out, /\n\d+s\s+Warning\s+Seen\s+configmap\/c\s+looked at it\n/);
});

test('the Python client reads an event written through core/v1 as events.k8s.io/v1', { skip: skipUnlessPythonKubernetes('events through the Python client') }, async () => {
  const out = await runPython(
    join(dir, 'kubeconfig'),
    `
ev = client.EventsV1Api(api)
e = ev.read_namespaced_event("web.1", "default")
emit({"note": e.note, "regarding": e.regarding.name, "controller": e.reporting_controller})
`,
  );
  assert.deepEqual(out, { note: 'changed through core', regarding: 'web', controller: 'meridian.dev/operator' });
});

test('the emulator names its own Events <object>.<hex nanoseconds> (client-go recorder), so a list shows each object\'s events in time order', async () => {
  const apps = sb.kc.makeApiClient(k8s.AppsV1Api);
  const core = sb.kc.makeApiClient(k8s.CoreV1Api);
  const template = { metadata: { labels: { app: 'ordered' } }, spec: { containers: [{ name: 'c', image: 'img' }] } };
  await apps.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'ordered' }, spec: { replicas: 1, selector: { matchLabels: { app: 'ordered' } }, template } } });
  // Scale up, then down: the Deployment controller records one ScalingReplicaSet event each time.
  for (const replicas of [3, 1]) {
    await apps.patchNamespacedDeployment({ namespace: 'default', name: 'ordered', body: { spec: { replicas } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await waitFor(async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=ordered' });
      return list.items.some((e) => e.message?.includes(`to ${replicas}`)) || undefined;
    }, { what: `the event for ${replicas} replicas` });
  }
  const events = (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=ordered' })).items;
  assert.ok(events.length >= 3, `events: ${events.map((e) => e.message)}`);
  for (const event of events) assert.match(event.metadata!.name!, /^ordered\.[0-9a-f]+$/);
  const byName = events.map((e) => e.message);
  const byTime = [...events].sort((a, b) => Number(BigInt(`0x${a.metadata!.name!.split('.')[1]}`) - BigInt(`0x${b.metadata!.name!.split('.')[1]}`))).map((e) => e.message);
  assert.deepEqual(byName, byTime, 'list order is time order');
  const scaled = byName.filter((m) => m?.startsWith('Scaled'));
  assert.deepEqual(scaled.slice(-2).map((m) => m!.replace(/replica set \S+ /, '')), ['Scaled up from 1 to 3', 'Scaled down from 3 to 1']);
});
