/**
 * A gateway process killed mid-queue loses nothing and doubles nothing: two gateway processes
 * share one redis-server; the receivers hold every delivery unanswered, so that when pod A is
 * SIGKILLed its in-flight deliveries were never acknowledged by anyone. Pod B then claims A's
 * pending entries (XAUTOCLAIM after notify.claimIdleMs), waits out A's leases, and delivers;
 * every notification is accepted exactly once per channel (email, webhook).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnGateway, testApiKey, type SpawnedGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';
import { startSmtp, startWebhookReceiver, type SmtpServer, type WebhookReceiver } from './helpers/notify-services.ts';

const webhookSecret = 'whsec-kill-test-0c1f';
const notifications = 30;

async function api(pod: SpawnedGateway, path: string, method: string, body?: unknown) {
  const res = await fetch(pod.httpUrl + path, { method, headers: { authorization: `Bearer ${testApiKey}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function backlog(pod: SpawnedGateway): Promise<number> {
  const text = await (await fetch(pod.metricsUrl)).text();
  return Number(/^meridian_notify_backlog (\S+)$/m.exec(text)?.[1] ?? NaN);
}

describe('a pod killed mid-queue', { skip: skipUnless('redis-server', 'two gateway processes on one Redis') }, () => {
  let redis: RedisServer;
  let smtp: SmtpServer;
  let hooks: WebhookReceiver;
  let podA: SpawnedGateway;
  let podB: SpawnedGateway;

  before(async () => {
    redis = await startRedis();
    smtp = await startSmtp();
    hooks = await startWebhookReceiver(webhookSecret);
    const config = {
      redisUrl: redis.url,
      notify: {
        pollMs: 20, claimIdleMs: 2500, retryInitialMs: 50, retryMaxMs: 200, concurrency: 6,
        email: { smtpUrl: smtp.url, from: 'notify@meridian.example', timeoutMs: 2000 },
        webhook: { url: hooks.url, timeoutMs: 2000 },
      },
    };
    // The webhook secret comes from the environment, as a Kubernetes Secret would provide it.
    const env = { MERIDIAN_NOTIFY_WEBHOOK_SECRET: webhookSecret };
    podA = await spawnGateway({ ...config, node: 'pod-a' }, { env });
    podB = await spawnGateway({ ...config, node: 'pod-b' }, { env });
  });
  after(async () => {
    await podA?.stop();
    await podB?.stop();
    await Promise.all([smtp?.stop(), hooks?.stop(), redis?.stop()]);
  });

  it('every notification is delivered once per channel', async () => {
    smtp.hold = true;
    hooks.hold = true;
    const ids: string[] = [];
    for (let i = 0; i < notifications; i += 1) {
      assert.equal((await api(podA, `/v1/users/u${i}/notify`, 'PATCH', { email: `u${i}@school.example` })).status, 200);
      const sent = await api(i % 2 ? podA : podB, '/v1/notify', 'POST', { to: { users: [`u${i}`] }, title: `Notice ${i}`, body: 'held' });
      assert.equal(sent.status, 202);
      ids.push(sent.body.id);
    }
    // Both pods have deliveries in flight, unanswered.
    await waitFor(() => smtp.attempts >= 6 && hooks.attempts >= 6, { timeoutMs: 20_000, what: 'held deliveries' });
    podA.signal('SIGKILL');
    await podA.exited;
    smtp.release();
    hooks.release();

    await waitFor(() => smtp.accepted.length >= notifications && hooks.accepted.length >= notifications, { timeoutMs: 60_000, what: 'every delivery' });
    await waitFor(async () => (await backlog(podB)) === 0, { timeoutMs: 30_000, what: 'an empty queue' });
    const emails = smtp.accepted.map((m) => m.headers.get('x-meridian-notification'));
    const webhooks = hooks.accepted.map((d) => d.body.notification.id);
    for (const id of ids) {
      assert.equal(emails.filter((e) => e === id).length, 1, `email for ${id}`);
      assert.equal(webhooks.filter((w) => w === id).length, 1, `webhook for ${id}`);
    }
    assert.equal(emails.length, notifications);
    assert.equal(webhooks.length, notifications);
    const claimed = Number(/^meridian_notify_claimed_total (\S+)$/m.exec(await (await fetch(podB.metricsUrl)).text())?.[1]);
    assert.ok(claimed >= 1, `pod B took over pod A's pending entries (claimed ${claimed})`);
    for (const pod of [podA, podB]) assert.equal(output(pod).includes(webhookSecret), false, 'the webhook secret is not logged');
  });
});

function output(pod: SpawnedGateway): string {
  const { stdout, stderr } = pod.output();
  return stdout + stderr;
}
