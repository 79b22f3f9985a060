/**
 * Each delivery channel against a real receiver on loopback: an SMTP server (smtp-server), a
 * Web Push service over HTTPS that checks VAPID and decrypts like a browser, and a webhook
 * receiver that verifies the signature. Users here are offline (no socket), so notifications go
 * to their channels; retries are short (notify.retryInitialMs) so the scenarios end quickly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import webpush from 'web-push';
import { capturingLogger, startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless } from './helpers/services.ts';
import { startPushService, startSmtp, startWebhookReceiver, type PushService, type SmtpServer, type WebhookReceiver } from './helpers/notify-services.ts';

const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@meridian.example' };
const webhookSecret = 'whsec-test-5a1d6b2c9e';
const smtpPassword = 'smtp-pass-7f3e91';
const fastRetries = { maxAttempts: 3, retryInitialMs: 20, retryMaxMs: 50, pollMs: 20 };

async function send(gw: TestGateway, body: Record<string, unknown>) {
  const reply = await gw.apiJson('/v1/notify', { method: 'POST', body: JSON.stringify(body) });
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  return reply.body;
}

async function deadLetters(gw: TestGateway) {
  return (await gw.apiJson('/v1/notify/dead-letters')).body.deadLetters as { job: { channel: string; n: { id: string } }; reason: string }[];
}

async function patchSettings(gw: TestGateway, user: string, body: unknown) {
  const reply = await gw.apiJson(`/v1/users/${user}/notify`, { method: 'PATCH', body: JSON.stringify(body) });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body;
}

describe('notification channels', { skip: skipUnless('openssl', 'the Web Push service (a TLS certificate)') }, () => {
  let smtp: SmtpServer;
  let push: PushService;
  let hooks: WebhookReceiver;
  let gw: TestGateway;
  const log = capturingLogger('debug');

  before(async () => {
    smtp = await startSmtp({ user: 'mailer', password: smtpPassword });
    push = await startPushService(vapid);
    hooks = await startWebhookReceiver(webhookSecret);
    gw = await startGateway(
      {
        notify: {
          ...fastRetries,
          push: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: vapid.subject, timeoutMs: 2000 },
          email: { smtpUrl: smtp.url, user: 'mailer', password: smtpPassword, from: 'Meridian <notify@meridian.example>', timeoutMs: 2000 },
          webhook: { url: hooks.url, secret: webhookSecret, timeoutMs: 2000 },
        } as never,
      },
      { notify: { pushAgent: push.agent }, logger: log.logger },
    );
  });
  after(async () => {
    await gw?.close();
    await Promise.all([smtp?.stop(), push?.stop(), hooks?.stop()]);
  });

  it('email arrives over SMTP with the right headers and a text and an HTML part', async () => {
    await patchSettings(gw, 'ada', { email: 'ada@school.example', preferences: { channels: { high: ['email'] } } });
    const { id } = await send(gw, { to: { users: ['ada'] }, title: 'Class starts in 5 minutes', body: 'Room 101 <now>', link: 'https://school.example/c/101', urgency: 'high' });
    const [mail] = await smtp.waitAccepted(1);
    assert.equal(mail.headers.get('subject'), 'Class starts in 5 minutes');
    assert.equal(mail.headers.get('from'), 'Meridian <notify@meridian.example>');
    assert.equal(mail.headers.get('to'), 'ada@school.example');
    assert.equal(mail.headers.get('x-meridian-notification'), id);
    assert.match(mail.headers.get('message-id')!, /^<[0-9a-f]{32}@meridian\.notify>$/);
    assert.deepEqual(mail.to, ['ada@school.example']);
    assert.ok(mail.parts.includes('multipart/alternative'), mail.parts.join());
    assert.ok(mail.parts.includes('text/plain') && mail.parts.includes('text/html'), mail.parts.join());
    assert.match(mail.raw, /Room 101 &#60;now&#62;/); // the HTML part escapes the body
  });

  it('a 4xx from the SMTP server is retried; a 5xx goes to dead letters', async () => {
    await patchSettings(gw, 'bob', { email: 'bob@school.example', preferences: { channels: { high: ['email'] } } });
    const before = smtp.accepted.length;
    smtp.replies.push(451, 451);
    const retried = await send(gw, { to: { users: ['bob'] }, title: 'Retried', body: 'after two 451s', urgency: 'high' });
    await smtp.waitAccepted(before + 1);
    assert.equal(smtp.accepted.at(-1)!.headers.get('x-meridian-notification'), retried.id);

    smtp.replies.push(550);
    const refused = await send(gw, { to: { users: ['bob'] }, title: 'Refused', body: 'mailbox unknown', urgency: 'high' });
    const letter = await waitFor(async () => (await deadLetters(gw)).find((l) => l.job.n.id === refused.id));
    assert.equal(letter.job.channel, 'email');
    assert.match(letter.reason, /550/);
    assert.equal(smtp.accepted.some((m) => m.headers.get('x-meridian-notification') === refused.id), false);
  });

  it('Web Push reaches the push service with a valid VAPID JWT and a payload the browser decrypts', async () => {
    const browser = push.subscribe('/push/ada-laptop');
    const registered = await gw.apiJson('/v1/users/ada/push', { method: 'POST', body: JSON.stringify(browser.json) });
    assert.equal(registered.status, 201);
    await patchSettings(gw, 'ada', { preferences: { channels: { normal: ['push'] } } });
    const { id } = await send(gw, { to: { users: ['ada'] }, title: 'New answer', body: 'Your question was answered', link: 'https://school.example/q/7', data: { q: 7 }, collapseKey: 'q-7', ttlSec: 600 });
    const [message] = await push.waitReceived(1);
    assert.deepEqual(push.refused, []);
    assert.equal(message.payload.id, id);
    assert.equal(message.payload.title, 'New answer');
    assert.deepEqual(message.payload.data, { q: 7 });
    assert.equal(message.jwt.sub, vapid.subject);
    assert.equal(message.headers.urgency, 'normal');
    assert.equal(message.headers.topic, 'q-7');
    const ttl = Number(message.headers.ttl);
    assert.ok(ttl > 590 && ttl <= 600, `TTL ${ttl}`);
  });

  it('a push endpoint answering 410 is removed; the user\'s other subscription stays', async () => {
    const gone = push.subscribe('/push/carl-old');
    const kept = push.subscribe('/push/carl-new');
    for (const browser of [gone, kept]) assert.equal((await gw.apiJson('/v1/users/carl/push', { method: 'POST', body: JSON.stringify(browser.json) })).status, 201);
    push.statusFor.set('/push/carl-old', 410);
    const before = push.received.length;
    await send(gw, { to: { users: ['carl'] }, title: 'Hello', body: 'two devices', urgency: 'high' });
    await push.waitReceived(before + 1);
    const settings = await waitFor(async () => {
      const body = (await gw.apiJson('/v1/users/carl/notify')).body;
      return body.push.length === 1 ? body : undefined;
    });
    assert.equal(settings.push[0].endpoint, kept.json.endpoint);
    assert.equal(push.received.at(-1)!.path, '/push/carl-new');
  });

  it('webhooks carry a signature the receiver verifies over timestamp.body', async () => {
    await patchSettings(gw, 'dana', { preferences: { channels: { normal: ['webhook'] } } });
    const { id } = await send(gw, { to: { users: ['dana'] }, title: 'Graded', body: 'Your essay was graded' });
    const delivery = await waitFor(() => hooks.accepted.find((d) => d.body.notification.id === id));
    assert.equal(hooks.rejected, 0);
    assert.equal(delivery.body.user, 'dana');
    assert.equal(delivery.delivery, `${id}:webhook:tenant`);
  });

  it('a webhook receiver answering 503 gets retries, then the notification is a dead letter', async () => {
    const attemptsBefore = hooks.attempts;
    hooks.statuses.push(503, 503, 503);
    const { id } = await send(gw, { to: { users: ['dana'] }, title: 'Down', body: 'receiver failing' });
    const letter = await waitFor(async () => (await deadLetters(gw)).find((l) => l.job.n.id === id));
    assert.equal(hooks.attempts - attemptsBefore, 3, 'notify.maxAttempts attempts');
    assert.match(letter.reason, /503.*after 3 attempts/);
    const metrics = await (await fetch(gw.metricsUrl)).text();
    assert.match(metrics, /meridian_notify_deliveries_total\{channel="webhook",outcome="retry"\} [1-9]/);
    assert.match(metrics, /meridian_notify_deliveries_total\{channel="webhook",outcome="dead_letter"\} [1-9]/);
  });

  it('a webhook receiver that is not listening at all gets retries, then a dead letter', async () => {
    await hooks.stop();
    const { id } = await send(gw, { to: { users: ['dana'] }, title: 'Nobody home', body: 'connection refused' });
    const letter = await waitFor(async () => (await deadLetters(gw)).find((l) => l.job.n.id === id));
    assert.match(letter.reason, /unreachable.*after 3 attempts/);
  });

  it('secrets (VAPID private key, SMTP password, webhook secret) never appear in logs', () => {
    const text = JSON.stringify(log.lines);
    assert.ok(log.lines.some((l) => l.msg === 'notification moved to dead letters'), 'failures were logged');
    for (const secret of [vapid.privateKey, smtpPassword, webhookSecret]) assert.equal(text.includes(secret), false);
  });
});
