/**
 * Smart delivery across two gateway pods of one region (two gateways, one redis-server, the
 * Redis engine and the Redis notification queue): a user connected to either pod gets the
 * socket push and nothing else; an offline user gets their preferred channels; quiet hours,
 * the per-user rate limit and the digest follow an injected clock shared by both pods.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import webpush from 'web-push';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';
import { startPushService, startSmtp, type PushService, type SmtpServer } from './helpers/notify-services.ts';

const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@meridian.example' };
const hourMs = 3_600_000;

function metric(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('notification routing across pods', { skip: skipUnless(['redis-server', 'openssl'], 'two pods on one Redis and a push service') }, () => {
  let redis: RedisServer;
  let smtp: SmtpServer;
  let push: PushService;
  let podA: TestGateway;
  let podB: TestGateway;
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;

  const send = async (body: Record<string, unknown>) => {
    const reply = await podA.apiJson('/v1/notify', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    return reply.body.id as string;
  };
  const setup = async (user: string, settings: Record<string, unknown>) => {
    assert.equal((await podB.apiJson(`/v1/users/${user}/notify`, { method: 'PATCH', body: JSON.stringify(settings) })).status, 200);
  };
  const mailsFor = (id: string) => smtp.accepted.filter((m) => m.headers.get('x-meridian-notification') === id);
  const scrape = async (name: string) => metric(await (await fetch(podA.metricsUrl)).text(), name) + metric(await (await fetch(podB.metricsUrl)).text(), name);

  before(async () => {
    redis = await startRedis();
    smtp = await startSmtp();
    push = await startPushService(vapid);
    const config = {
      redisUrl: redis.url,
      notify: {
        pollMs: 20,
        retryInitialMs: 20,
        retryMaxMs: 100,
        rateLimitPerUser: 3,
        rateWindowMs: 60_000,
        digestWindowMs: 600_000,
        push: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: vapid.subject },
        email: { smtpUrl: smtp.url, from: 'notify@meridian.example' },
      } as never,
    };
    const pod = (node: string) => startGateway({ ...config, node }, { engine: new RedisEngine({ url: redis.url }), notify: { now, pushAgent: push.agent } });
    podA = await pod('pod-a');
    podB = await pod('pod-b');
  });
  after(async () => {
    for (const pod of [podA, podB]) {
      await pod?.close();
      await pod?.engine.close();
    }
    await Promise.all([smtp?.stop(), push?.stop(), redis?.stop()]);
  });

  it('a user connected to the other pod gets the socket push and no email', async () => {
    await setup('olga', { email: 'olga@school.example', preferences: { channels: { normal: ['email', 'push'] } } });
    const client = await podB.client('olga');
    assert.equal((await client.request({ op: 'subscribe', room: 'user:olga' })).op, 'subscribed');
    const id = await send({ to: { users: ['olga'] }, title: 'Quiz open', body: 'Quiz 3 is open' });
    const push = await client.waitFrame((f) => f.op === 'notification');
    assert.equal(push.notification.id, id);
    assert.equal(push.notification.title, 'Quiz open');
    assert.equal(push.room, 'user:olga');
    // Routing is done once the push is out: the decision was the socket, no channel job exists.
    await waitFor(async () => (await scrape('meridian_notify_routed_total{decision="socket"}')) >= 1);
    assert.equal(await scrape('meridian_notify_routed_total{decision="channels"}'), 0);
    assert.equal(mailsFor(id).length, 0);
    // The push is in the personal room's history, so a client that reconnects recovers it.
    const history = await client.request({ op: 'history', room: 'user:olga' });
    assert.equal(history.messages.at(-1).op, 'notification');
    await client.close();
  });

  it('an offline user gets Web Push and email as their preferences say', async () => {
    const browser = push.subscribe('/push/paul');
    const client = await podA.client('paul');
    assert.equal((await client.request({ op: 'push_subscribe', subscription: browser.json })).op, 'push_subscribed');
    const updated = await client.request({ op: 'notify_update', email: 'paul@school.example', preferences: { channels: { high: ['push', 'email'], normal: ['push'] } } });
    assert.equal(updated.op, 'notify_settings');
    await client.close(); // offline from here (never subscribed to the personal room anyway)
    const urgent = await send({ to: { users: ['paul'] }, title: 'Class moved', body: 'Now in room 12', urgency: 'high' });
    const normal = await send({ to: { users: ['paul'] }, title: 'New grade', body: 'B+' });
    await waitFor(() => push.received.filter((m) => m.path === '/push/paul').length >= 2);
    await waitFor(() => mailsFor(urgent).length === 1);
    assert.deepEqual(push.received.filter((m) => m.path === '/push/paul').map((m) => m.payload.id).sort(), [urgent, normal].sort());
    assert.equal(mailsFor(normal).length, 0, 'normal urgency is push only for paul');
  });

  it('quiet hours in the user\'s time zone defer normal urgency until they end; high goes at once', async () => {
    const utcHour = new Date(now()).getUTCHours();
    const pad = (h: number) => String((h + 24) % 24).padStart(2, '0') + ':00';
    await setup('quinn', { email: 'quinn@school.example', preferences: { quietHours: { start: pad(utcHour - 1), end: pad(utcHour + 1), timeZone: 'Etc/UTC' }, channels: { normal: ['email'], high: ['email'] } } });
    const deferred = await send({ to: { users: ['quinn'] }, title: 'Reminder', body: 'Homework due tomorrow' });
    const urgent = await send({ to: { users: ['quinn'] }, title: 'Fire drill', body: 'Leave the building', urgency: 'high' });
    await waitFor(() => mailsFor(urgent).length === 1);
    await waitFor(async () => (await scrape('meridian_notify_routed_total{decision="quiet_hours"}')) >= 1);
    assert.equal(mailsFor(deferred).length, 0);
    offsetMs += 2 * hourMs; // past the end of the quiet hours
    await waitFor(() => mailsFor(deferred).length === 1);
  });

  it('the per-user rate limit holds: beyond it notifications wait for the next window', async () => {
    offsetMs += 60_000 - (now() % 60_000) + 1000; // at the start of a rate window
    await setup('rita', { email: 'rita@school.example', preferences: { channels: { normal: ['email'] } } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await send({ to: { users: ['rita'] }, title: `Update ${i}`, body: 'news' }));
    await waitFor(async () => (await scrape('meridian_notify_routed_total{decision="rate_limited"}')) >= 2);
    await waitFor(() => ids.filter((id) => mailsFor(id).length > 0).length === 3);
    assert.equal(ids.filter((id) => mailsFor(id).length > 0).length, 3, 'notify.rateLimitPerUser per window');
    offsetMs += 60_000; // the next window
    await waitFor(() => ids.every((id) => mailsFor(id).length === 1), { timeoutMs: 15_000 });
  });

  it('low-urgency emails are batched into one digest email when the window closes', async () => {
    await setup('sam', { email: 'sam@school.example', preferences: { channels: { low: ['email'] }, digest: true } });
    const ids = [];
    for (const title of ['Forum reply', 'New follower', 'Badge earned']) ids.push(await send({ to: { users: ['sam'] }, title, body: title, urgency: 'low' }));
    await waitFor(async () => (await scrape('meridian_notify_routed_total{decision="digest"}')) >= 3);
    const before = smtp.accepted.filter((m) => m.to.includes('sam@school.example')).length;
    assert.equal(before, 0);
    offsetMs += 600_000; // notify.digestWindowMs
    await waitFor(() => smtp.accepted.some((m) => m.to.includes('sam@school.example')));
    const mails = smtp.accepted.filter((m) => m.to.includes('sam@school.example'));
    assert.equal(mails.length, 1);
    assert.equal(mails[0].headers.get('subject'), '3 notifications');
    for (const title of ['Forum reply', 'New follower', 'Badge earned']) assert.match(mails[0].raw, new RegExp(title));
  });
});
