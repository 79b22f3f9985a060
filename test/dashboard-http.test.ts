/**
 * The dashboard's listener against a real hub emulator: the page, uPlot from the package, the
 * event stream's first frame, and the token rule (loopback without one; any other address
 * refuses to start without one, and then answers 401 without it, 200 with it as a bearer or as
 * the cookie `?token=` sets).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { realtimeClusterCrd } from '../crds/crd.ts';
import { startDashboard, type DashboardServer } from '../operator/dashboard/index.ts';
import { kubeSources } from '../operator/dashboard/sources.ts';
import { createOperatorMetrics } from '../operator/metrics.ts';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { waitFor } from './helpers/net.ts';

let hub: Sandbox;
const servers: DashboardServer[] = [];
before(async () => {
  hub = await startSandbox();
});
after(async () => {
  for (const server of servers) await server.close();
  await hub.close();
});

function sources() {
  return kubeSources(hub.client, createOperatorMetrics({ processMetrics: false }).registry);
}

test('on loopback: the page, uPlot from node_modules, and a history frame on the event stream', async () => {
  const server = await startDashboard({ port: 0, host: '127.0.0.1', sources: sources() });
  servers.push(server);
  const base = `http://127.0.0.1:${server.port}`;
  const page = await fetch(`${base}/dashboard`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script src="\/dashboard\/uplot\.js">/);
  const uplot = await fetch(`${base}/dashboard/uplot.js`);
  assert.equal(uplot.status, 200);
  assert.match(await uplot.text(), /uPlot/);
  const controller = new AbortController();
  const stream = await fetch(`${base}/dashboard/events`, { signal: controller.signal });
  assert.equal(stream.headers.get('content-type'), 'text/event-stream');
  const reader = stream.body!.getReader();
  const { value } = await reader.read();
  assert.match(Buffer.from(value!).toString(), /^event: history\ndata: \{/);
  controller.abort();
  // The hub has no CRD: the sample says why, not "0 clusters".
  const state = await waitFor(async () => {
    const view = (await (await fetch(`${base}/dashboard/state`)).json()) as { error?: string; clusters: unknown[] };
    return view.error === 'no sample yet' ? undefined : view;
  }, { what: 'the first sample' });
  assert.match(state.error ?? '', /RealtimeClusters could not be listed/, JSON.stringify(state));
  assert.deepEqual(state.clusters, []);
});

test('beyond loopback: no token refuses to start; with one, 401 without it, 200 with a bearer or the cookie', async () => {
  await assert.rejects(startDashboard({ port: 0, host: '0.0.0.0', sources: sources() }), /give it a token/);
  const server = await startDashboard({ port: 0, host: '0.0.0.0', token: 'let-me-in', sources: sources() });
  servers.push(server);
  const base = `http://127.0.0.1:${server.port}`;
  assert.equal((await fetch(`${base}/dashboard`)).status, 401);
  assert.equal((await fetch(`${base}/dashboard/state`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetch(`${base}/dashboard/state`, { headers: { authorization: 'Bearer let-me-in' } })).status, 200);
  const login = await fetch(`${base}/dashboard?token=let-me-in`, { redirect: 'manual' });
  assert.equal(login.status, 303);
  const cookie = login.headers.get('set-cookie')!;
  assert.match(cookie, /HttpOnly; SameSite=Strict/);
  assert.equal((await fetch(`${base}/dashboard/events`, { headers: { cookie: cookie.split(';')[0] } }).then((r) => (r.body?.cancel(), r.status))), 200);
});

test('a region\'s autoscaler status (state and last decision) reaches the dashboard\'s view, newest decision first', async () => {
  const crd = await hub.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: realtimeClusterCrd() });
  assert.ok([201, 409].includes(crd.status), JSON.stringify(crd.body));
  const path = '/apis/realtime.meridian.dev/v1alpha1/namespaces/default/realtimeclusters';
  await waitFor(async () => (await hub.raw('GET', path)).status === 200 || undefined, { what: 'the RealtimeCluster API' });
  const created = await hub.raw('POST', path, {
    body: { apiVersion: 'realtime.meridian.dev/v1alpha1', kind: 'RealtimeCluster', metadata: { name: 'scaled' }, spec: { gateway: { image: 'meridian:0.1.0', auth: { jwtSecretRef: { name: 'auth', key: 'jwt-secret' } } }, autoscaling: { minReplicas: 1, maxReplicas: 1 }, regions: [{ name: 'eu' }, { name: 'us' }] } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const decision = (time: string, to: number) => ({ time, direction: 'Up', fromReplicas: to - 1, toReplicas: to, reason: 'Connections', message: `to ${to}` });
  const status = {
    regions: [
      { name: 'eu', phase: 'Ready', scaling: { state: 'Stable', message: 'within target', lastDecision: decision('2026-11-29T10:00:00Z', 2) } },
      { name: 'us', phase: 'Ready', scaling: { state: 'Stabilizing', message: 'waiting for the window', lastDecision: decision('2026-11-29T11:00:00Z', 3) } },
    ],
  };
  const written = await hub.raw('PATCH', `${path}/scaled/status`, { body: { status }, contentType: 'application/merge-patch+json' });
  assert.equal(written.status, 200, JSON.stringify(written.body));
  const server = await startDashboard({ port: 0, host: '127.0.0.1', sources: sources() });
  servers.push(server);
  const view = await waitFor(async () => {
    const state = (await (await fetch(`http://127.0.0.1:${server.port}/dashboard/state`)).json()) as { clusters: Array<{ name: string; scaling: Array<{ region: string; state: string; lastDecision?: { toReplicas: number } }> }> };
    return state.clusters.find((c) => c.name === 'scaled');
  }, { what: 'the cluster in the dashboard view' });
  assert.deepEqual(view.scaling.map((s) => [s.region, s.state, s.lastDecision?.toReplicas]), [['us', 'Stabilizing', 3], ['eu', 'Stable', 2]]);
});
