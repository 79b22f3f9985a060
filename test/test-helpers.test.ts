/**
 * The suite's own skip rule: a missing binary skips loudly, and under CI=true it fails instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

/** Runs skipUnless in a child process with the given CI value; returns its verdict and stderr. */
function verdict(binary: string, ci: string | undefined): { stdout: string; stderr: string; status: number | null } {
  const env = { ...process.env };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  const script = `import { skipUnless } from ${JSON.stringify(new URL('./helpers/services.ts', import.meta.url).href)};
try { process.stdout.write(JSON.stringify(skipUnless(${JSON.stringify(binary)}, 'a scenario'))); } catch (e) { process.stdout.write('threw: ' + e.message); }`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

test('a missing binary skips with a loud reason naming it and how to install it', () => {
  const { stdout, stderr } = verdict('meridian-no-such-binary', undefined);
  const reason = JSON.parse(stdout) as string;
  assert.match(reason, /^SKIPPED: a scenario needs 'meridian-no-such-binary' \(apt-get install -y meridian-no-such-binary\)$/);
  assert.ok(stderr.includes(`*** ${reason} ***`), `stderr: ${stderr}`);
});

test('under CI=true a missing binary fails instead of skipping', () => {
  const { stdout } = verdict('meridian-no-such-binary', 'true');
  assert.match(stdout, /^threw: SKIPPED: a scenario needs 'meridian-no-such-binary'.* — a missing binary fails under CI=true$/);
});

test('a binary that is there does not skip, in CI or not', () => {
  for (const ci of [undefined, 'true']) assert.equal(verdict('sh', ci).stdout, 'false', `CI=${ci}`);
});
