/**
 * What can be checked of the container image without building it (no container engine here):
 * every path the Dockerfile copies exists and is not excluded by .dockerignore, the image is
 * non-root with `meridian` as entrypoint and a healthcheck, and a production-only install
 * (`npm ci --omit=dev`, from npm's local cache) of exactly what the image holds runs
 * `meridian gateway --help`, `meridian operator --help` and `meridian apiserver --help`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/** Sources of the COPY instructions that read the build context (not `--from=` a stage). */
function copiedPaths(): string[] {
  return dockerfile
    .split('\n')
    .filter((line) => /^COPY\s/.test(line) && !line.includes('--from='))
    .flatMap((line) => line.replace(/^COPY\s+/, '').split(/\s+/).slice(0, -1));
}

test('every path the Dockerfile copies exists and is not in .dockerignore', () => {
  const paths = copiedPaths();
  assert.ok(paths.includes('package-lock.json') && paths.includes('gateway') && paths.includes('bin'));
  for (const path of paths) {
    assert.ok(existsSync(join(root, path)), `COPY ${path}: no such file or directory`);
    assert.ok(!ignored.includes(path), `COPY ${path}, but .dockerignore excludes it`);
  }
});

test('the image: node 24 slim stages, production dependencies only, non-root, meridian entrypoint, healthcheck', () => {
  assert.equal([...dockerfile.matchAll(/^FROM node:24-slim\b/gm)].length, 2, 'two node:24-slim stages');
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^USER (?!0\b|root\b)\S+/m);
  assert.match(dockerfile, /^ENTRYPOINT \["meridian"\]/m);
  assert.match(dockerfile, /^HEALTHCHECK /m);
});

const work = mkdtempSync(join(tmpdir(), 'meridian-image-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a production-only install of what the image copies runs every command\'s --help', { timeout: 600_000 }, () => {
  for (const path of copiedPaths()) cpSync(join(root, path), join(work, path), { recursive: true });
  // Offline, from the cache `npm ci` filled for this checkout: a test reaches no registry.
  const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], { cwd: work, encoding: 'utf8', timeout: 540_000 });
  assert.equal(install.status, 0, `npm ci --omit=dev failed:\n${install.stderr}`);
  assert.ok(!existsSync(join(work, 'node_modules', 'typescript')), 'dev dependencies are not installed');
  for (const command of ['gateway', 'operator', 'apiserver']) {
    const run = spawnSync(process.execPath, [join(work, 'bin', 'meridian.ts'), command, '--help'], { cwd: work, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, NODE_DISABLE_COMPILE_CACHE: '1' } });
    assert.equal(run.status, 0, `meridian ${command} --help failed in the production install:\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`usage: meridian ${command}`));
  }
});
