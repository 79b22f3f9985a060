/**
 * Dev mode (no JWT secret configured): the gateway prints a working dev token, serves the demo
 * page and a token endpoint, and two browser tabs chat and see each other's presence.
 *
 * The browser scenario needs Debian's `chromium`; when it is absent the scenario is skipped
 * with a loud message, and fails under CI=true like every other missing binary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers/net.ts';
import { skipUnless } from './helpers/services.ts';
import { spawnGateway, startGateway, TestClient, type SpawnedGateway } from './helpers/gateway.ts';

const chromiumPath = '/usr/bin/chromium';
const browserSkip = skipUnless({ binary: chromiumPath, install: 'apt-get install -y chromium' }, 'the demo-page browser scenario');

describe('gateway dev mode', () => {
  let gw: SpawnedGateway;
  before(async () => {
    gw = await spawnGateway({ jwt: {} });
  });
  after(async () => {
    gw.signal('SIGTERM');
    await gw.exited;
    await gw.stop();
  });

  it('prints a dev token with rooms ["*"] that connects, and serves the demo page and token endpoint', async () => {
    // The banner follows the listening socket, so /healthz may answer a moment before it.
    const token = await waitFor(() => /dev token:\s+(\S+)/.exec(gw.output().stderr)?.[1], { what: 'the dev token banner' });
    assert.doesNotMatch(gw.output().stdout, new RegExp(token.replace(/[.]/g, '\\.')), 'the token must not be in the logs');
    const client = await TestClient.connected(gw.wsUrl, token);
    assert.equal((await client.request({ op: 'subscribe', room: 'anything-at-all' })).op, 'subscribed');
    await client.close();

    const page = await fetch(`${gw.httpUrl}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Meridian demo chat<\/title>/);
    const issued = (await (await fetch(`${gw.httpUrl}/dev/token?user=bob`)).json()) as { token: string };
    const bob = await TestClient.open(gw.wsUrl);
    assert.equal((await bob.request({ op: 'connect', token: issued.token })).user, 'bob');
    await bob.close();
    assert.equal((await fetch(`${gw.httpUrl}/dev/token?user=${'x'.repeat(40)}`)).status, 400);
  });

  it('two browser tabs chat in a room and see each other’s presence', { skip: browserSkip }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const open = async (name: string) => {
        const page = await browser.newPage();
        await page.goto(`${gw.httpUrl}/`);
        await page.fill('#user', name);
        await page.fill('#room', 'demo-room');
        await page.click('#join');
        await page.waitForSelector('#status:has-text("online as")');
        return page;
      };
      const alice = await open('alice');
      const bob = await open('bob');
      await alice.waitForSelector('#members li:has-text("bob")');
      await bob.waitForSelector('#members li:has-text("alice")');

      await bob.fill('#text', 'hello from bob');
      await bob.click('#sendButton');
      await alice.waitForSelector('#log div:has-text("hello from bob")');
      await alice.fill('#text', 'hi bob');
      await alice.press('#text', 'Enter');
      await bob.waitForSelector('#log div:has-text("hi bob")');

      await bob.close();
      await alice.waitForSelector('#log div:has-text("bob left")');
      assert.deepEqual(await alice.locator('#members li').allTextContents(), ['alice']);
    } finally {
      await browser.close();
    }
  });
});

describe('gateway outside dev mode', () => {
  it('has no demo page and no token endpoint', async () => {
    const gw = await startGateway();
    try {
      assert.equal((await fetch(`${gw.httpUrl}/`)).status, 404);
      assert.equal((await fetch(`${gw.httpUrl}/dev/token?user=bob`)).status, 404);
    } finally {
      await gw.close();
    }
  });
});
