/**
 * The operator's Kubernetes client (operator/kube) against the API emulator: every kubeconfig
 * form it supports, paging, watches with bookmarks and 410, each patch type, and errors that
 * keep the server's Status. Client certificates are checked against a small HTTPS server that
 * requires one (the emulator authenticates by token only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { KubeClient } from '../operator/kube/client.ts';
import { inClusterTarget } from '../operator/kube/config.ts';
import { KubeApiError, KubeConfigError } from '../operator/kube/errors.ts';
import { isConnectivityError } from '../operator/reconcile/errors.ts';
import { statusCodeOf } from '../operator/errors.ts';
import { startApiServer, type ApiServerHandle, type ApiServerOptions } from '../sandbox/apiserver/index.ts';
import { selfSignedCertificate } from '../sandbox/apiserver/tls.ts';
import { kubeconfig, tempDir } from './helpers/kube-config.ts';

const TOKEN = 'kube-client-test-token';


async function emulator(t: { after(fn: () => Promise<void>): void }, options: ApiServerOptions = {}): Promise<ApiServerHandle> {
  const server = await startApiServer({ port: 0, name: 'kube-client', token: TOKEN, ...options });
  t.after(() => server.close());
  return server;
}

function configMap(name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}): V1ConfigMap & KubernetesObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data };
}

test('a token kubeconfig creates, reads, replaces and deletes, and a 404 or 409 keeps the Status body', async (t) => {
  const server = await emulator(t);
  const kube = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }));
  t.after(() => kube.close());
  const created = await kube.create(configMap('one', { v: '1' }));
  assert.equal(created.metadata?.name, 'one');
  const read = await kube.read<V1ConfigMap & KubernetesObject>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } });
  assert.equal(read.data?.v, '1', 'the context namespace is used when none is named');
  const replaced = await kube.replace({ ...read, data: { v: '2' } });
  assert.equal(replaced.data?.v, '2');
  const stale = await kube.replace({ ...read, data: { v: '3' } }).then(() => undefined, (e: unknown) => e);
  assert.ok(stale instanceof KubeApiError);
  assert.equal(stale.statusCode, 409, 'a replace carrying an old resourceVersion is a conflict');
  assert.equal(statusCodeOf(stale), 409);
  assert.equal(isConnectivityError(stale), false, 'an HTTP answer is not a connectivity error');
  await kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one', namespace: 'default' } }, { propagationPolicy: 'Background' });
  const missing = await kube.read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } }).then(() => undefined, (e: unknown) => e);
  assert.ok(missing instanceof KubeApiError);
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.reason, 'NotFound');
  assert.equal(typeof missing.body === 'object' && missing.body.kind, 'Status');
  assert.deepEqual(await kube.version().then((v) => typeof v.gitVersion), 'string');
});

test('a wrong token is refused with 401 and a closed port is a network error, not an HTTP one', async (t) => {
  const server = await emulator(t);
  const wrong = KubeClient.fromString(kubeconfig(server.url, { token: 'nope' }));
  t.after(() => wrong.close());
  const refused = await wrong.version().then(() => undefined, (e: unknown) => e);
  assert.ok(refused instanceof KubeApiError);
  assert.equal(refused.statusCode, 401);
  const dark = KubeClient.fromString(kubeconfig('http://127.0.0.1:1', { token: TOKEN }));
  const unreachable = await dark.version().then(() => undefined, (e: unknown) => e);
  assert.ok(!(unreachable instanceof KubeApiError));
  assert.equal((unreachable as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(isConnectivityError(unreachable), true);
  const slow = await emulator(t);
  slow.faults.setLatency(2000);
  const impatient = KubeClient.fromString(kubeconfig(slow.url, { token: TOKEN }));
  t.after(() => impatient.close());
  const timedOut = await impatient.version({ timeoutMs: 100 }).then(() => undefined, (e: unknown) => e);
  assert.ok(timedOut instanceof Error && !(timedOut instanceof KubeApiError), 'a per-call timeout rejects without an HTTP status');
});

test('lists page with limit and continue, and filter by label', async (t) => {
  const server = await emulator(t);
  const kube = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }));
  t.after(() => kube.close());
  for (let i = 0; i < 7; i++) await kube.create(configMap(`page-${i}`, {}, { paged: i % 2 === 0 ? 'even' : 'odd' }));
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await kube.list<V1ConfigMap & KubernetesObject>('v1', 'ConfigMap', { namespace: 'default', labelSelector: 'paged', limit: 3, continue: token });
    names.push(...page.items.map((item) => item.metadata?.name ?? ''));
    token = page.metadata?.continue || undefined;
    pages += 1;
  } while (token);
  assert.equal(pages, 3);
  assert.deepEqual(names.sort(), [0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`));
  const even = await kube.list('v1', 'ConfigMap', { namespace: 'default', labelSelector: 'paged=even' });
  assert.equal(even.items.length, 4);
});

test('merge, strategic-merge, JSON patch and server-side apply each change what they should', async (t) => {
  const server = await emulator(t);
  const kube = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }));
  t.after(() => kube.close());
  const header = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched', namespace: 'default' } };
  const applied = await kube.apply({ ...configMap('patched', { a: '1' }) }, { fieldManager: 'first', force: true });
  assert.deepEqual(applied.data, { a: '1' });
  const merged = await kube.patch<V1ConfigMap & KubernetesObject>(header, { data: { b: '2' } }, 'merge', { fieldManager: 'test' });
  assert.deepEqual(merged.data, { a: '1', b: '2' });
  const strategic = await kube.patch<V1ConfigMap & KubernetesObject>(header, { data: { c: '3' } }, 'strategic', { fieldManager: 'test' });
  assert.deepEqual(strategic.data, { a: '1', b: '2', c: '3' });
  const json = await kube.patch<V1ConfigMap & KubernetesObject>(header, [{ op: 'remove', path: '/data/a' }], 'json', { fieldManager: 'test' });
  assert.deepEqual(json.data, { b: '2', c: '3' });
  const failedTest = await kube.patch(header, [{ op: 'test', path: '/metadata/resourceVersion', value: '1' }], 'json').then(() => undefined, (e: unknown) => e);
  assert.ok(failedTest instanceof KubeApiError && failedTest.statusCode >= 400, 'a failed JSON-patch test is refused');
  const conflict = await kube.apply(configMap('patched', { b: 'mine' }), { fieldManager: 'second' }).then(() => undefined, (e: unknown) => e);
  assert.ok(conflict instanceof KubeApiError);
  assert.equal(conflict.statusCode, 409, 'apply without force conflicts with another manager');
  const forced = await kube.apply<V1ConfigMap & KubernetesObject>(configMap('patched', { b: 'mine' }), { fieldManager: 'second', force: true });
  assert.equal(forced.data?.b, 'mine');
});

test('a watch streams events and bookmarks, ends on abort, and a too-old resourceVersion gets 410', async (t) => {
  const server = await emulator(t, { bookmarkIntervalMs: 50, watchHistory: 5 });
  const kube = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }));
  t.after(() => kube.close());
  const start = await kube.list('v1', 'ConfigMap', { namespace: 'default' });
  const seen: string[] = [];
  let bookmarks = 0;
  const stop = new AbortController();
  const watching = kube.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: start.metadata?.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 30 }, (type, object) => {
    if (type === 'BOOKMARK') bookmarks += 1;
    else seen.push(`${type} ${(object as KubernetesObject).metadata?.name}`);
  }, stop.signal);
  await kube.create(configMap('watched'));
  await kube.patch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched' } }, { data: { x: '1' } }, 'merge');
  await kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched' } });
  while (seen.length < 3 || bookmarks === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  stop.abort();
  await watching;
  assert.deepEqual(seen, ['ADDED watched', 'MODIFIED watched', 'DELETED watched']);
  // Enough writes that the first resourceVersion falls out of the emulator's history.
  for (let i = 0; i < 10; i++) await kube.create(configMap(`churn-${i}`));
  const errors: unknown[] = [];
  const expired = await kube
    .watch('/api/v1/namespaces/default/configmaps', { resourceVersion: start.metadata?.resourceVersion, timeoutSeconds: 5 }, (type, object) => {
      if (type === 'ERROR') errors.push(object);
    })
    .then(() => undefined, (e: unknown) => e);
  const code = expired instanceof KubeApiError ? expired.statusCode : (errors[0] as { code?: number } | undefined)?.code;
  assert.equal(code, 410, 'an expired resourceVersion is answered 410 (as a status or an ERROR event)');
});

test('tokenFile: the token is read from the file', async (t) => {
  const server = await emulator(t);
  const dir = tempDir(t, 'kube-client');
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  writeFileSync(join(dir, 'config'), kubeconfig(server.url, { tokenFile: 'token' }));
  const kube = KubeClient.fromFile(join(dir, 'config'));
  t.after(() => kube.close());
  assert.equal(typeof (await kube.version()).gitVersion, 'string', 'a relative tokenFile resolves from the kubeconfig directory');
});

test('an exec plugin (v1 and v1beta1) is run once and its token cached until it expires; a failing plugin has a stable code', async (t) => {
  const server = await emulator(t);
  const dir = tempDir(t, 'kube-client');
  const plugin = join(dir, 'plugin.mjs');
  const runs = join(dir, 'runs');
  writeFileSync(runs, '');
  writeFileSync(
    plugin,
    `import { appendFileSync } from 'node:fs';
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
appendFileSync(${JSON.stringify(runs)}, info.apiVersion + '\\n');
if (process.env.PLUGIN_FAIL) { console.error('no credentials here'); process.exit(3); }
console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: process.env.PLUGIN_TOKEN, expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() } }));
`,
  );
  for (const apiVersion of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
    const exec = { apiVersion, command: process.execPath, args: [plugin], env: [{ name: 'PLUGIN_TOKEN', value: TOKEN }], interactiveMode: 'Never' };
    const kube = KubeClient.fromString(kubeconfig(server.url, { exec }), { baseDir: dir });
    t.after(() => kube.close());
    await Promise.all([kube.version(), kube.version(), kube.list('v1', 'ConfigMap', { namespace: 'default' })]);
    await kube.version();
  }
  assert.deepEqual(readFileSync(runs, 'utf8').trim().split('\n'), ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'], 'one run per client, whatever the number of requests');
  const failing = KubeClient.fromString(kubeconfig(server.url, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], env: [{ name: 'PLUGIN_FAIL', value: '1' }] } }));
  await assert.rejects(failing.version(), (error: unknown) => error instanceof KubeConfigError && error.code === 'EXEC_CREDENTIAL_FAILED' && /exited with code 3/.test(error.message) && !error.message.includes('no credentials here'));
});

test('unsupported auth forms, and file or exec references where only inline credentials are allowed, are refused with stable codes', () => {
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { 'auth-provider': { name: 'gcp' } })), { code: 'KUBECONFIG_UNSUPPORTED_AUTH' });
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { username: 'a', password: 'b' })), { code: 'KUBECONFIG_UNSUPPORTED_AUTH' });
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { token: 't', as: 'admin' })), { code: 'KUBECONFIG_UNSUPPORTED_AUTH' });
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { token: 't' }, { 'proxy-url': 'http://proxy:3128' })), { code: 'KUBECONFIG_UNSUPPORTED_AUTH' });
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { exec: { command: 'gke-gcloud-auth-plugin' } }), { inlineOnly: true }), { code: 'KUBECONFIG_FORBIDDEN_REFERENCE' });
  assert.throws(() => KubeClient.fromString(kubeconfig('https://x', { tokenFile: '/etc/passwd' }), { inlineOnly: true }), { code: 'KUBECONFIG_FORBIDDEN_REFERENCE' });
  assert.throws(() => KubeClient.fromString('current-context: nope\n'), { code: 'KUBECONFIG_INVALID' });
  assert.throws(() => KubeClient.fromString('{ not yaml: ['), { code: 'KUBECONFIG_INVALID' });
});

test('over TLS the server is verified with certificate-authority-data, and in-cluster config reads the service-account files', async (t) => {
  const server = await emulator(t, { tls: true });
  const ca = Buffer.from(selfSignedCertificate().cert).toString('base64');
  const verified = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }, { 'certificate-authority-data': ca }));
  t.after(() => verified.close());
  assert.equal(typeof (await verified.version()).gitVersion, 'string');
  const unverified = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }));
  t.after(() => unverified.close());
  const untrusted = await unverified.version().then(() => undefined, (e: unknown) => e);
  assert.ok(untrusted instanceof Error && !(untrusted instanceof KubeApiError), 'a server certificate no CA vouches for is refused');
  const skipping = KubeClient.fromString(kubeconfig(server.url, { token: TOKEN }, { 'insecure-skip-tls-verify': true }));
  t.after(() => skipping.close());
  assert.equal(typeof (await skipping.version()).gitVersion, 'string');

  const dir = tempDir(t, 'kube-client');
  writeFileSync(join(dir, 'token'), TOKEN);
  writeFileSync(join(dir, 'ca.crt'), selfSignedCertificate().cert);
  writeFileSync(join(dir, 'namespace'), 'meridian-system');
  const target = inClusterTarget({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(server.port) }, dir);
  assert.equal(target.namespace, 'meridian-system');
  const inCluster = new KubeClient(target);
  t.after(() => inCluster.close());
  assert.equal(typeof (await inCluster.version()).gitVersion, 'string');
  assert.throws(() => inClusterTarget({}, dir), { code: 'KUBECONFIG_IN_CLUSTER_UNAVAILABLE' });
});

test('a client certificate (client-certificate-data and client-key-data) is presented to a server that requires one', async (t) => {
  const dir = tempDir(t, 'kube-client');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'client.key'), '-out', join(dir, 'client.crt'), '-subj', '/CN=meridian-operator', '-days', '1'], { stdio: 'ignore' });
  const serverPair = selfSignedCertificate();
  const clientCert = readFileSync(join(dir, 'client.crt'), 'utf8');
  const subjects: string[] = [];
  const server = createTlsServer({ ...serverPair, ca: clientCert, requestCert: true, rejectUnauthorized: true }, (request, response) => {
    const peer = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
    subjects.push(String(peer.subject?.CN));
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ gitVersion: 'v1.33.0' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const withCert = KubeClient.fromString(kubeconfig(url, { 'client-certificate-data': b64(clientCert), 'client-key-data': b64(readFileSync(join(dir, 'client.key'), 'utf8')) }, { 'certificate-authority-data': b64(serverPair.cert) }));
  t.after(() => withCert.close());
  assert.equal((await withCert.version()).gitVersion, 'v1.33.0');
  assert.deepEqual(subjects, ['meridian-operator']);
  const withFiles = KubeClient.fromString(kubeconfig(url, { 'client-certificate': 'client.crt', 'client-key': 'client.key' }, { 'certificate-authority-data': b64(serverPair.cert) }), { baseDir: dir });
  t.after(() => withFiles.close());
  assert.equal((await withFiles.version()).gitVersion, 'v1.33.0', 'file references resolve from the kubeconfig directory');
  const without = KubeClient.fromString(kubeconfig(url, { token: 'x' }, { 'certificate-authority-data': b64(serverPair.cert) }));
  t.after(() => without.close());
  await assert.rejects(without.version(), (error: unknown) => !(error instanceof KubeApiError), 'no certificate, no TLS session');
});
