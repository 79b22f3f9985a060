/**
 * The operations dashboard in headless Chromium against `meridian start`: both regions and their
 * pods appear, a burst of messages shows up in the region's rates, and a region whose API stops
 * answering turns Unknown on the page. Screenshots go to test-output/dashboard/ (not in git).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { TestClient } from './helpers/gateway.ts';
import { launchPlatform } from './helpers/platform.ts';
import { skipUnless } from './helpers/services.ts';

const chromiumPath = '/usr/bin/chromium';
const browserSkip = skipUnless({ binary: chromiumPath, install: 'apt-get install -y chromium' }, 'the dashboard browser scenario');
const shots = fileURLToPath(new URL('../test-output/dashboard/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'meridian-dashboard-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** POST /_sandbox/faults/refuse on a region's emulator: it stops listening for `seconds`. */
function refuseRegion(kubeconfigFile: string, seconds: number): Promise<number> {
  const config = parse(readFileSync(kubeconfigFile, 'utf8'));
  const server = new URL('/_sandbox/faults/refuse', config.clusters[0].cluster.server);
  const body = JSON.stringify({ seconds });
  return new Promise((resolve, reject) => {
    const req = request(server, { method: 'POST', rejectUnauthorized: false, headers: { authorization: `Bearer ${config.users[0].user.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // The emulator may cut this very connection as it stops listening.
    req.on('error', (error) => (String(error).includes('socket hang up') ? resolve(200) : reject(error)));
    req.end(body);
  });
}

test('the dashboard shows both regions and their pods, a message burst in the rates, and an unreachable region as Unknown', { skip: browserSkip, timeout: 300_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const platform = await launchPlatform(dir);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const clients: TestClient[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(platform.dashboardUrl);
    const region = (name: string) => `[data-region="${name}"]`;
    for (const name of ['us-east1', 'europe-west1']) {
      await page.waitForSelector(`${region(name)} h3 [data-field="phase"]:text-is("Ready")`, { timeout: 60_000 });
      await page.waitForSelector(`${region(name)} tr[data-pod]`, { timeout: 30_000 });
    }
    const pods = await page.locator(`${region('us-east1')} tr[data-pod]`).count();
    assert.ok(pods >= 1, 'the page lists us-east1 pods');
    await page.screenshot({ path: join(shots, '1-regions.png'), fullPage: true });

    // A burst: several connections publish to one room in us-east1 (each within its rate limit).
    const [a] = platform.regions;
    for (let i = 0; i < 4; i++) {
      const client = await TestClient.connected(`ws://127.0.0.1:${a.port}/v1/ws`, a.token);
      await client.request({ op: 'subscribe', room: 'burst' });
      clients.push(client);
    }
    const before = Number.parseFloat((await page.locator(`${region('us-east1')} [data-field="msgsInPerSec"]`).textContent()) ?? '');
    const burst = (async () => {
      for (let round = 0; round < 20; round++) {
        await Promise.all(clients.map((client, i) => client.request({ op: 'publish', room: 'burst', data: { text: `burst ${round}-${i}` } })));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    // Waits on the condition (the page's rate rises above what it showed before), not on a time.
    await page.waitForFunction(
      ([selector, floor]) => {
        // Runs in the page, where `document` exists (this file is type-checked without the DOM library).
        const doc = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document;
        const value = Number.parseFloat(doc.querySelector(selector)?.textContent ?? '');
        return Number.isFinite(value) && value > floor;
      },
      [`${region('us-east1')} [data-field="msgsInPerSec"]`, Number.isFinite(before) ? before : 0] as const,
      { timeout: 30_000 },
    );
    await burst;
    await page.screenshot({ path: join(shots, '2-burst.png'), fullPage: true });

    // europe-west1's API stops answering: the operator marks it Unknown and the page follows.
    const b = platform.regions[1];
    assert.equal(await refuseRegion(join(dir, `${b.name}.kubeconfig`), 120), 200);
    await page.waitForSelector(`${region(b.name)} h3 [data-field="phase"]:text-is("Unknown")`, { timeout: 90_000 });
    await page.waitForSelector(`${region(b.name)} [data-field="pods-error"]`, { timeout: 30_000 });
    assert.equal(await page.locator(`${region('us-east1')} h3 [data-field="phase"]`).textContent(), 'Ready', 'the other region stays Ready');
    await page.screenshot({ path: join(shots, '3-region-unknown.png'), fullPage: true });
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await browser.close();
    assert.equal(await platform.interrupt(), 0);
  }
});
