/**
 * `meridian operator` as a process: its log lines are JSON objects with no key twice (a line
 * with `component` or `identity` twice is valid to some parsers and garbage to others), its
 * endpoints bind loopback unless told otherwise, a stop right after the start exits (the
 * caches need not have synced), and a taken port says which flag to change.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOperatorArgs } from '../operator/main.ts';
import { clusterSpec, createCluster, getCluster, startSandbox, type Sandbox } from './operator-reconcile-harness.ts';
import { freePort, waitFor } from './helpers/net.ts';

const MERIDIAN = new URL('../bin/meridian.ts', import.meta.url).pathname;
let sandbox: Sandbox;
let kubeconfig: string;

before(async () => {
  sandbox = await startSandbox();
  await sandbox.pool.stop();
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'meridian-operator-process-')), 'hub.yaml');
  writeFileSync(kubeconfig, sandbox.hub.kubeconfig());
});

after(async () => {
  await sandbox?.close();
});

interface Operator {
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

function spawnOperator(args: string[]): Operator {
  const child = spawn(process.execPath, [MERIDIAN, 'operator', '--kubeconfig', kubeconfig, '--no-leader-elect', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid as number, 'SIGTERM');
      return exited;
    },
  };
}

/**
 * Parses one JSON text, failing on a key that appears twice in one object (JSON.parse keeps
 * the last and says nothing). Strings, numbers and literals are checked by JSON.parse itself.
 */
function parseStrict(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i += 1;
  };
  const string = (): string => {
    const start = i;
    i += 1;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
    ws();
    if (text[i] === '{') {
      i += 1;
      const keys = new Set<string>();
      ws();
      if (text[i] === '}') return void (i += 1);
      for (;;) {
        ws();
        const key = string();
        if (keys.has(key)) throw new Error(`key "${key}" appears twice in one object`);
        keys.add(key);
        ws();
        i += 1; // ':'
        value();
        ws();
        if (text[i++] === '}') return;
      }
    }
    if (text[i] === '[') {
      i += 1;
      ws();
      if (text[i] === ']') return void (i += 1);
      for (;;) {
        value();
        ws();
        if (text[i++] === ']') return;
      }
    }
    if (text[i] === '"') return void string();
    while (i < text.length && !/[,}\]\s]/.test(text[i])) i += 1;
  };
  value();
  ws();
  if (i !== text.length) throw new Error(`trailing text at ${i}`);
  return JSON.parse(text);
}

test('the strict parser refuses a line with a key twice, which JSON.parse accepts', () => {
  const line = '{"level":30,"component":"operator","identity":"a","component":"events","msg":"x"}';
  assert.doesNotThrow(() => JSON.parse(line));
  assert.throws(() => parseStrict(line), /"component" appears twice/);
  assert.deepEqual(parseStrict('{"a":{"b":[1,{"c":"}"}]},"d":"\\"e"}'), { a: { b: [1, { c: '}' }] }, d: '"e' });
});

test('every log line of a running operator, at debug level, is a JSON object with each key once', async () => {
  const port = await freePort();
  const operator = spawnOperator(['--metrics-port', String(port), '--log-level', 'debug', '--probe-interval-ms', '200']);
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, { what: 'the operator ready', timeoutMs: 30_000 });
    await createCluster(sandbox, 'logged', clusterSpec());
    await waitFor(async () => (await getCluster(sandbox, 'logged'))?.status?.phase === 'Ready', { what: 'logged Ready', timeoutMs: 30_000, intervalMs: 100 });
  } finally {
    assert.equal(await operator.stop(), 0, operator.output());
  }
  const lines = operator.output().split('\n').filter((line) => line.length > 0);
  assert.ok(lines.length > 20, `the run logged (${lines.length} lines)`);
  const components = new Set<string>();
  for (const line of lines) {
    const entry = parseStrict(line) as Record<string, unknown>;
    assert.equal(typeof entry.identity, 'string', `every line names the process: ${line}`);
    if (typeof entry.component === 'string') components.add(entry.component);
  }
  for (const component of ['operator', 'controller', 'regions']) assert.ok(components.has(component), `lines of ${component} (${[...components]})`);
});

test('the endpoints bind loopback unless --metrics-host says otherwise; SIGTERM before the caches sync still exits 0', async () => {
  assert.equal(parseOperatorArgs([], {}).metricsHost, '127.0.0.1');
  assert.equal(parseOperatorArgs(['--metrics-host', '0.0.0.0'], {}).metricsHost, '0.0.0.0');
  const port = await freePort();
  const operator = spawnOperator(['--metrics-port', String(port)]);
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, { what: 'the operator serving', timeoutMs: 30_000 });
    const started = operator
      .output()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === 'operator started');
    assert.equal(started?.host, '127.0.0.1');
  } finally {
    assert.equal(await operator.stop(), 0);
  }
});

test('a metrics port already taken fails the start with a message naming --metrics-port', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const operator = spawnOperator(['--metrics-port', String(port)]);
    assert.equal(await operator.exited, 1);
    assert.match(operator.output(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use; choose another with --metrics-port`));
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('the operator loads without the Pub/Sub SDK; the relay admin imports it on its first call', async () => {
  // A resolve hook in a fresh process lists every module asked for by name.
  const script = `
    import { registerHooks } from 'node:module';
    const asked = new Set();
    registerHooks({ resolve(specifier, context, next) { asked.add(specifier); return next(specifier, context); } });
    const loaded = () => [...asked].some((s) => s.startsWith('@google-cloud/pubsub'));
    await import(${JSON.stringify(new URL('../operator/main.ts', import.meta.url).href)});
    const { connectPubSub } = await import(${JSON.stringify(new URL('../operator/relay-topology/admin.ts', import.meta.url).href)});
    const admin = connectPubSub({ projectId: 'p', emulatorHost: '127.0.0.1:1' }, 1000);
    const atStart = loaded();
    await admin.close();
    const afterClose = loaded();
    await admin.getTopic('t').catch(() => undefined);
    console.log(JSON.stringify({ atStart, afterClose, afterCall: loaded() }));
    await admin.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(output.trim().split('\n').at(-1) ?? '{}'), { atStart: false, afterClose: false, afterCall: true });
});
