/**
 * The operator process must not load @kubernetes/client-node at run time: importing it costs
 * ~80 MiB of resident memory (every generated model and API group loads with it). `import type`
 * is erased by Node's type stripping and is fine. A child process imports the operator's entry
 * modules with a resolve hook that records every module resolved, the way `meridian operator`
 * loads them (bin/meridian.ts: operator/heap-flags.ts, then operator/main.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const ROOT = new URL('..', import.meta.url);

function modulesLoadedBy(entries: string[]): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); seen.push(result.url); return result; } });
    for (const entry of ${JSON.stringify(entries)}) await import(new URL(entry, ${JSON.stringify(ROOT.href)}).href);
    process.stdout.write(JSON.stringify(seen));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('.', ROOT) });
  return JSON.parse(out) as string[];
}

test('the operator entry modules load no @kubernetes/client-node code at run time', () => {
  const loaded = modulesLoadedBy(['operator/heap-flags.ts', 'operator/main.ts']);
  assert.ok(loaded.some((url) => url.endsWith('/operator/kube/client.ts')), 'the check sees the operator graph (its own client is in it)');
  assert.ok(loaded.some((url) => url.endsWith('/operator/informer.ts')));
  const clientNode = loaded.filter((url) => url.includes('/@kubernetes/client-node/'));
  assert.deepEqual(clientNode, [], 'a runtime import of @kubernetes/client-node crept into the operator');
});

test('the check would notice a runtime import of @kubernetes/client-node', () => {
  // kubectl/kube.ts imports it for real: the same check must flag it.
  const loaded = modulesLoadedBy(['kubectl/kube.ts']);
  assert.ok(loaded.some((url) => url.includes('/@kubernetes/client-node/')));
});
