/**
 * `kubectl meridian` as an SRE runs it: real kubectl finds `kubectl-meridian` on PATH (a temp
 * directory holding a link to bin/kubectl-meridian.ts) and runs it against the sandbox API
 * emulator, where `meridian operator` runs as its own process and fills in the status. Skips
 * loudly without kubectl or openssl (fails under CI=true).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { createTokenVerifier } from '../gateway/auth.ts';
import { realtimeClusterCrdModel } from '../crds/crd.ts';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type RealtimeCluster } from '../crds/types.ts';
import { PLUGIN_ERRORS } from '../kubectl/errors.ts';
import { renderStatus, wantsColour } from '../kubectl/status-text.ts';
import { statusReport } from '../kubectl/status.ts';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { freePort, waitFor } from './helpers/net.ts';
import { runCommand, type CommandResult } from './helpers/run-command.ts';
import { skipUnless } from './helpers/services.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const NAMESPACE = 'tenants';
const CLUSTER = 'classrooms';
const JWT_SECRET = 'plugin-test-secret-0123456789abcdef';
/** One kubectl call may take this long on a busy machine before the test gives up on it. */
const KUBECTL_TIMEOUT_MS = 60_000;
const ANSI = /\u001b\[/;

const skip = skipUnless(['kubectl', 'openssl'], 'the kubectl meridian plugin scenarios');

test('every plugin error code is documented in docs/kubectl-plugin.md with its exit status', () => {
  const doc = readFileSync(join(root, 'docs/kubectl-plugin.md'), 'utf8');
  for (const [code, { exit }] of Object.entries(PLUGIN_ERRORS)) {
    assert.match(doc, new RegExp(`\\|\\s*${exit}\\s*\\|\\s*\`${code}\``), `${code} (exit ${exit}) is documented`);
  }
});

test('colour only on a terminal, never with NO_COLOR or a dumb terminal', () => {
  assert.equal(wantsColour(true, {}), true);
  assert.equal(wantsColour(false, {}), false);
  assert.equal(wantsColour(undefined, {}), false);
  assert.equal(wantsColour(true, { NO_COLOR: '1' }), false);
  assert.equal(wantsColour(true, { TERM: 'dumb' }), false);
  const cluster = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'c', namespace: 'n' }, spec: { gateway: { image: 'i', auth: {} }, regions: [{ name: 'r' }] }, status: { phase: 'Ready' } } as RealtimeCluster;
  const report = statusReport(cluster, []);
  assert.match(renderStatus(report, { colour: true, now: new Date() }), ANSI);
  assert.doesNotMatch(renderStatus(report, { colour: false, now: new Date() }), ANSI);
});

// Each kubectl call starts kubectl and a Node process: on a busy 2-core machine the suite takes minutes.
describe('kubectl meridian against the sandbox with the operator running', { skip, timeout: 600_000 }, () => {
  let sb: Sandbox;
  let dir: string;
  let kubeconfig: string;
  let operator: ChildProcess | undefined;
  let operatorOutput = '';
  let env: NodeJS.ProcessEnv;

  function kubectl(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
    return runCommand('kubectl', args, { timeoutMs: KUBECTL_TIMEOUT_MS, env: { ...env, ...extraEnv } });
  }

  /** `kubectl meridian ARGS --kubeconfig FILE` (kubectl passes flags after the plugin name on to it). */
  const meridian = (args: string[], extraEnv?: NodeJS.ProcessEnv) => kubectl(['meridian', ...args, '--kubeconfig', kubeconfig], extraEnv);

  async function ok(args: string[]): Promise<string> {
    const result = await meridian(args);
    assert.equal(result.status, 0, `kubectl meridian ${args.join(' ')} failed:\n${result.stderr}`);
    return result.stdout;
  }

  const getCluster = async () => (await sb.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NAMESPACE, name: CLUSTER })) as RealtimeCluster;

  before(async () => {
    sb = await startSandbox({ name: 'plugin-hub', tls: true, readyDelayMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'meridian-kubectl-plugin-'));
    kubeconfig = join(dir, 'kubeconfig');
    await sb.server.writeKubeconfig(kubeconfig);
    // kubectl finds plugins on PATH; the link's target has a `#!/usr/bin/env node` line, so this
    // Node (24) comes first on PATH too.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(join(root, 'bin/kubectl-meridian.ts'), join(bin, 'kubectl-meridian'));
    env = { ...process.env, PATH: [bin, dirname(process.execPath), process.env.PATH].join(':'), HOME: dir, KUBECONFIG: '' };
    delete env.NO_COLOR;

    await sb.crds.createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
    await sb.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await sb.core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: 'meridian-auth' }, data: { 'jwt-secret': Buffer.from(JWT_SECRET).toString('base64') } } });
    await sb.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: NAMESPACE,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: CLUSTER },
        spec: {
          gateway: { image: 'meridian:0.1.0', auth: { jwtSecretRef: { name: 'meridian-auth', key: 'jwt-secret' } } },
          autoscaling: { minReplicas: 1, maxReplicas: 1 },
          ai: { dailyBudgetUsd: 25, providers: [{ name: 'local' }] },
          regions: [{ name: 'local', namespace: 'classrooms-gw' }],
        },
      },
    });

    const port = await freePort();
    operator = spawn(process.execPath, [join(root, 'bin/meridian.ts'), 'operator', '--kubeconfig', kubeconfig, '--no-leader-elect', '--metrics-port', String(port), '--resync-seconds', '600', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    operator.stdout!.on('data', (chunk: Buffer) => (operatorOutput += chunk.toString('utf8')));
    operator.stderr!.on('data', (chunk: Buffer) => (operatorOutput += chunk.toString('utf8')));
    await waitFor(async () => (await getCluster()).status?.phase === 'Ready', { what: `the operator to make ${CLUSTER} Ready (operator output: ${operatorOutput})`, timeoutMs: 60_000 });
  });

  after(async () => {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((resolve) => operator!.once('exit', resolve));
      process.kill(operator.pid!, 'SIGTERM');
      await exited;
    }
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('help follows kubectl conventions: Usage, Examples, Available Commands, Flags; each command has its own', async () => {
    const top = await ok(['--help']);
    for (const section of ['Usage:', 'Examples:', 'Available Commands:', 'Flags:']) assert.match(top, new RegExp(`^${section}$`, 'm'), `root help has ${section}`);
    for (const command of ['status', 'pause', 'resume', 'token', 'maintenance']) assert.match(top, new RegExp(`^  ${command}\\s+\\S`, 'm'), `root help lists ${command}`);
    assert.match(top, /^ {2}-n, --namespace string/m);
    assert.match(top, /^ {6}--kubeconfig string/m);
    assert.match(top, /^ {6}--context string/m);
    const status = await ok(['status', '--help']);
    for (const section of ['Usage:', 'Examples:', 'Flags:', 'Global Flags:']) assert.match(status, new RegExp(`^${section}$`, 'm'));
    assert.match(status, /^ {2}kubectl meridian status NAME \[flags\]$/m);
    assert.match(status, /^ {2}-o, --output string/m);
  });

  test('an unknown command or a missing argument is a usage error with exit status 2', async () => {
    const unknown = await meridian(['frobnicate', CLUSTER]);
    assert.equal(unknown.status, PLUGIN_ERRORS.USAGE.exit);
    assert.match(unknown.stderr, /^error: unknown command "frobnicate" for "kubectl meridian" \[USAGE\]\nSee 'kubectl meridian --help' for usage\.$/m);
    const missing = await meridian(['status']);
    assert.equal(missing.status, PLUGIN_ERRORS.USAGE.exit);
    assert.match(missing.stderr, /status takes NAME; got no arguments/);
    const badFlag = await meridian(['status', CLUSTER, '-n', NAMESPACE, '--colour']);
    assert.equal(badFlag.status, PLUGIN_ERRORS.USAGE.exit);
    assert.match(badFlag.stderr, /Unknown option '--colour'/);
  });

  test('status prints one screen: phase, the region with pods ready/desired, "—" for figures not reported, conditions and Events, no colour into a pipe', async () => {
    const out = await ok(['status', CLUSTER, '-n', NAMESPACE]);
    const cluster = await getCluster();
    const scaling = cluster.status?.regions?.[0]?.scaling;
    assert.doesNotMatch(out, ANSI, 'no escape codes when stdout is not a terminal');
    assert.match(out, /^Name:\s+classrooms$/m);
    assert.match(out, /^Namespace:\s+tenants$/m);
    assert.match(out, /^Phase:\s+Ready\s+regions ready 1\/1\s+\(generation 1, observed 1\)$/m);
    assert.match(out, /^Paused:\s+no$/m);
    assert.match(out, /^Relay:\s+not configured$/m);
    assert.match(out, /^AI spend:\s+— of \$25\.00 daily budget \(\$25\.00 per region × 1\)$/m);
    const [header, row] = out.split('\n').filter((line) => /^(REGION|local)\s/.test(line));
    assert.deepEqual(header.split(/\s{3,}/), ['REGION', 'PHASE', 'PODS', 'SCALING', 'CONNECTIONS', 'MSG/S IN/OUT', 'RELAY', 'LAG', 'AI TODAY', 'SYNCED', 'MESSAGE']);
    const cells = row.split(/\s{3,}/);
    // Emulated pods answer no /loadz: rates, lag and spend are unknown ("—"), not 0.
    assert.deepEqual(cells.slice(0, 9), ['local', 'Ready', '1/1', scaling?.state ?? '—', '0', '—', 'off', '—', '—']);
    assert.match(cells[9], /^\d+[smhd]$/);
    assert.equal(cells[10], '1/1 gateway pods ready');
    assert.match(out, /^ {2}Ready\s+True\s+AllRegionsReady\s+\d+[smhd]\s+/m);
    // The autoscaler's last change from status, else its newest Scal… Event (here it holds: no load is read from emulated pods).
    const events = (await sb.core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.name=${CLUSTER}` })).items;
    const scalingEvent = events.filter((e) => e.reason?.startsWith('Scal')).sort((a, b) => String(b.lastTimestamp ?? '').localeCompare(String(a.lastTimestamp ?? '')))[0];
    if (scaling?.lastDecision) assert.match(out, new RegExp(`^ {2}Scaling:\\s+region local: ${scaling.lastDecision.reason} `, 'm'));
    else if (scalingEvent) assert.match(out, new RegExp(`^ {2}Scaling:\\s+${scalingEvent.reason} \\d+[smhd] ago: `, 'm'));
    else assert.match(out, /^ {2}Scaling:\s+—$/m);
    assert.match(out, /^ {2}Maintenance:\s+—$/m);
    assert.match(out, /^ {2}\d+[smhd]\s+Normal\s+Applied\s+\d+\s+/m, 'the operator\'s Applied Event is listed');
  });

  test('status -o json and -o yaml carry the same report as data', async () => {
    const json = JSON.parse(await ok(['status', CLUSTER, '-n', NAMESPACE, '-o', 'json']));
    assert.equal(json.name, CLUSTER);
    assert.equal(json.phase, 'Ready');
    assert.equal(json.paused, false);
    assert.deepEqual(json.ai, { configured: true, regionDailyBudgetUsd: 25, dailyBudgetUsd: 25, regionsBudgeted: 1 });
    assert.equal(json.regions.length, 1);
    assert.equal(json.regions[0].name, 'local');
    assert.equal(json.regions[0].readyReplicas, 1);
    assert.equal(json.regions[0].desiredReplicas, 1);
    assert.equal(json.regions[0].messagesPerSecond, undefined, 'not reported: absent, never 0');
    assert.ok(json.conditions.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'));
    assert.ok(json.events.some((e: { reason: string }) => e.reason === 'Applied'));
    const yaml = parse(await ok(['status', CLUSTER, '-n', NAMESPACE, '-o', 'yaml']));
    assert.deepEqual({ ...yaml, events: undefined, conditions: undefined, regions: undefined }, { ...json, events: undefined, conditions: undefined, regions: undefined });
    const bad = await meridian(['status', CLUSTER, '-n', NAMESPACE, '-o', 'wide']);
    assert.equal(bad.status, PLUGIN_ERRORS.USAGE.exit);
  });

  test('honours --context, the context\'s namespace, -n and $KUBECONFIG as kubectl does', async () => {
    // The current context points at a closed port; --context picks the good one.
    const config = parse(readFileSync(kubeconfig, 'utf8'));
    const good = config.contexts[0];
    const twoContexts = {
      ...config,
      clusters: [...config.clusters, { name: 'dark', cluster: { server: `https://127.0.0.1:${await freePort()}`, 'insecure-skip-tls-verify': true } }],
      contexts: [{ name: 'dark', context: { cluster: 'dark', user: good.context.user } }, { name: 'hub-tenants', context: { ...good.context, namespace: NAMESPACE } }],
      'current-context': 'dark',
    };
    const file = join(dir, 'two-contexts.yaml');
    writeFileSync(file, JSON.stringify(twoContexts), { mode: 0o600 });
    const viaContext = await kubectl(['meridian', 'status', CLUSTER, '--kubeconfig', file, '--context', 'hub-tenants', '-o', 'json']);
    assert.equal(viaContext.status, 0, viaContext.stderr);
    assert.equal(JSON.parse(viaContext.stdout).namespace, NAMESPACE, "the context's namespace is used without -n");
    const dark = await kubectl(['meridian', 'status', CLUSTER, '--kubeconfig', file]);
    assert.equal(dark.status, PLUGIN_ERRORS.API_ERROR.exit, 'the current context (a closed port) is used without --context');
    const missingContext = await kubectl(['meridian', 'status', CLUSTER, '--kubeconfig', file, '--context', 'nope']);
    assert.equal(missingContext.status, PLUGIN_ERRORS.KUBECONFIG_INVALID.exit);
    assert.match(missingContext.stderr, /context "nope" does not exist/);
    const viaEnv = await kubectl(['meridian', 'status', CLUSTER, '-n', NAMESPACE, '-o', 'json'], { KUBECONFIG: kubeconfig });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    const wrongNamespace = await meridian(['status', CLUSTER]);
    assert.equal(wrongNamespace.status, PLUGIN_ERRORS.NOT_FOUND.exit, 'the kubeconfig\'s context says default, where there is no such cluster');
    assert.match(wrongNamespace.stderr, /cannot read RealtimeCluster default\/classrooms: .*not found \[NOT_FOUND\]/);
  });

  test('pause sets spec.paused and the operator reports Paused; pause again changes nothing; resume clears it', async () => {
    assert.equal(await ok(['pause', CLUSTER, '-n', NAMESPACE]), `realtimecluster.${GROUP}/${CLUSTER} paused\n`);
    assert.equal((await getCluster()).spec.paused, true);
    await waitFor(async () => (await getCluster()).status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True'), { what: 'the Paused condition', timeoutMs: 30_000 });
    assert.match(await ok(['status', CLUSTER, '-n', NAMESPACE]), /^Paused:\s+yes \(nothing is written to regions\)$/m);
    const writes = sb.server.requestCount({ writesOnly: true });
    assert.equal(await ok(['pause', CLUSTER, '-n', NAMESPACE]), `realtimecluster.${GROUP}/${CLUSTER} already paused (no change)\n`);
    assert.equal(await ok(['resume', CLUSTER, '-n', NAMESPACE]), `realtimecluster.${GROUP}/${CLUSTER} resumed\n`);
    assert.ok(sb.server.requestCount({ writesOnly: true }) > writes);
    assert.equal((await getCluster()).spec.paused, false);
    await waitFor(async () => !(await getCluster()).status?.conditions?.some((c) => c.type === 'Paused'), { what: 'the Paused condition gone', timeoutMs: 30_000 });
    const missing = await meridian(['pause', 'no-such-cluster', '-n', NAMESPACE]);
    assert.equal(missing.status, PLUGIN_ERRORS.NOT_FOUND.exit);
  });

  test('token mints a JWT the gateway accepts with the cluster\'s secret: sub, rooms, expiry', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = (await ok(['token', CLUSTER, '-n', NAMESPACE, '--sub', 'alice', '--rooms', 'math-*,physics-101', '--ttl', '15m'])).trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token is printed');
    const identity = await createTokenVerifier({ secret: JWT_SECRET, clockToleranceSec: 0 }).verify(token);
    assert.equal(identity.user, 'alice');
    assert.ok(identity.expiresAt >= before + 900 && identity.expiresAt <= Math.floor(Date.now() / 1000) + 900, `expires in 15 minutes: ${identity.expiresAt - before}`);
    await assert.rejects(createTokenVerifier({ secret: 'another-secret', clockToleranceSec: 0 }).verify(token), /token invalid/);
    const json = JSON.parse(await ok(['token', CLUSTER, '-n', NAMESPACE, '--sub', 'bob', '--rooms', 'math-*', '-o', 'json']));
    assert.equal(json.sub, 'bob');
    assert.deepEqual(json.rooms, ['math-*']);
    assert.equal(Date.parse(json.expiresAt) / 1000, (await createTokenVerifier({ secret: JWT_SECRET, clockToleranceSec: 0 }).verify(json.token)).expiresAt, 'default ttl 1h, expiry as the token says');
    const badTtl = await meridian(['token', CLUSTER, '-n', NAMESPACE, '--sub', 'a', '--rooms', 'x', '--ttl', 'forever']);
    assert.equal(badTtl.status, PLUGIN_ERRORS.USAGE.exit);
    const noSub = await meridian(['token', CLUSTER, '-n', NAMESPACE, '--rooms', 'x']);
    assert.equal(noSub.status, PLUGIN_ERRORS.USAGE.exit);
    assert.match(noSub.stderr, /token needs --sub and --rooms \(missing: --sub\)/);
  });

  test('token refuses, and says which permission is missing, when the Secret may not be read (403)', async () => {
    sb.server.faults.forbid([{ verb: 'get', resource: 'secrets', namespace: NAMESPACE, name: 'meridian-auth' }]);
    try {
      const refused = await meridian(['token', CLUSTER, '-n', NAMESPACE, '--sub', 'mallory', '--rooms', '*']);
      assert.equal(refused.status, PLUGIN_ERRORS.FORBIDDEN.exit);
      assert.equal(refused.stdout, '', 'no token');
      assert.match(refused.stderr, /^error: cannot read Secret tenants\/meridian-auth: secrets "meridian-auth" is forbidden: User "plugin-hub" cannot get resource "secrets" in API group "" in the namespace "tenants" \[FORBIDDEN\]$/m);
      assert.match(refused.stderr, /it needs get on secrets "meridian-auth" in namespace tenants \(spec\.gateway\.auth\.jwtSecretRef\)/);
    } finally {
      sb.server.faults.forbid([]);
    }
  });

  test("maintenance switches a region's spec.regions[].maintenance on and off, says when nothing changes, and names an unknown region", async () => {
    const regionOf = async () => {
      const cluster = (await sb.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NAMESPACE, name: CLUSTER })) as RealtimeCluster;
      return cluster.spec.regions.find((r) => r.name === 'local')!;
    };
    const on = await meridian(['maintenance', CLUSTER, 'local', 'on', '-n', NAMESPACE]);
    assert.equal(on.status, 0, on.stderr);
    assert.match(on.stdout, /region local maintenance on$/m);
    assert.equal((await regionOf()).maintenance, true);
    const again = await meridian(['maintenance', CLUSTER, 'local', 'on', '-n', NAMESPACE]);
    assert.match(again.stdout, /already on \(no change\)/);
    const off = await meridian(['maintenance', CLUSTER, 'local', 'off', '-n', NAMESPACE]);
    assert.equal(off.status, 0, off.stderr);
    assert.equal((await regionOf()).maintenance, false);
    const unknown = await meridian(['maintenance', CLUSTER, 'atlantis', 'on', '-n', NAMESPACE]);
    assert.equal(unknown.status, PLUGIN_ERRORS.NOT_FOUND.exit);
    assert.match(unknown.stderr, /has no region atlantis/);
    const badSwitch = await meridian(['maintenance', CLUSTER, 'local', 'maybe', '-n', NAMESPACE]);
    assert.equal(badSwitch.status, PLUGIN_ERRORS.USAGE.exit);
  });

});
