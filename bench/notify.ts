/**
 * Notifications: two gateway processes of one region on one redis-server, with a real SMTP
 * server, an HTTPS Web Push service (VAPID checked, payload decrypted) and a webhook receiver in
 * this process. Per channel, N offline users who each prefer only that channel get one `high`
 * notification each (high: no quiet hours or rate window in the way), sent with POST /v1/notify
 * from `concurrency` parallel requests, alternating pods.
 *
 * Reported per channel: notifications queued per second (POST → 202), delivered per second
 * (first send → last delivery), send → delivery p50/p99/max (the notification's `ts`, stamped by
 * the gateway, to arrival here: one machine, one clock), deliveries versus expected, and Redis
 * commands per notification (INFO commandstats around the measured phase).
 */
import { Redis } from 'ioredis';
import webpush from 'web-push';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { commandCounts, commandDelta } from './lib/redis-stats.ts';
import { markdownTable, runHeader, saveRunRecord } from './lib/results.ts';
import { startRedis } from '../test/helpers/services.ts';
import { spawnGateway, testApiKey, type SpawnedGateway } from '../test/helpers/gateway.ts';
import { startPushService, startSmtp, startWebhookReceiver } from '../test/helpers/notify-services.ts';

export const notifyOptions: Record<string, OptionSpec> = {
  notifications: { kind: 'int', default: 2000, quick: 300, doc: 'notifications per channel (one offline user each)' },
  concurrency: { kind: 'int', default: 16, quick: 8, doc: 'POST /v1/notify requests in flight' },
  channels: { kind: 'list', default: ['webhook', 'email', 'push'], doc: 'channels measured (webhook, email, push)' },
  quick: { kind: 'bool', default: false, doc: 'a short run (smaller counts)' },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/notify.json)' },
};

type Channel = 'webhook' | 'email' | 'push';

interface ChannelResult {
  channel: Channel;
  notifications: number;
  delivered: number;
  queuedPerSec: number;
  deliveredPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  redisCommandsPerNotification: number;
  redisCommands: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function api(pod: SpawnedGateway, path: string, method: string, body: unknown): Promise<Record<string, any>> {
  const res = await fetch(pod.httpUrl + path, { method, headers: { authorization: `Bearer ${testApiKey}` }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, any>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  }));
}

export async function run(argv: readonly string[]): Promise<unknown> {
  const options = parseOptions(argv, notifyOptions);
  const n = options.notifications as number;
  const concurrency = options.concurrency as number;
  const header = runHeader();
  const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:bench@meridian.example' };
  const webhookSecret = 'bench-webhook-secret';
  const redis = await startRedis();
  const smtp = await startSmtp();
  const hooks = await startWebhookReceiver(webhookSecret);
  const push = await startPushService(vapid);
  const config = {
    redisUrl: redis.url,
    logLevel: 'warn',
    limits: { httpMaxRequestsPerSocket: 100_000 },
    notify: {
      pollMs: 50,
      maxRecipients: 1,
      push: { vapidPublicKey: vapid.publicKey, subject: vapid.subject },
      email: { smtpUrl: smtp.url, from: 'bench@meridian.example' },
      webhook: { url: hooks.url },
    },
  };
  const env = { MERIDIAN_NOTIFY_WEBHOOK_SECRET: webhookSecret, MERIDIAN_NOTIFY_PUSH_VAPID_PRIVATE_KEY: vapid.privateKey, NODE_EXTRA_CA_CERTS: push.certFile };
  const pods = [await spawnGateway({ ...config, node: 'bench-a' }, { env }), await spawnGateway({ ...config, node: 'bench-b' }, { env })];
  const stats = new Redis(redis.url);
  const results: ChannelResult[] = [];
  try {
    for (const channel of options.channels as Channel[]) {
      const users = Array.from({ length: n }, (_, i) => `${channel}-${i}`);
      await pool(users, concurrency, async (user, i) => {
        const settings: Record<string, unknown> = { preferences: { channels: { high: [channel] } } };
        if (channel === 'email') settings.email = `${user}@bench.example`;
        await api(pods[i % 2], `/v1/users/${user}/notify`, 'PATCH', settings);
        if (channel === 'push') await api(pods[i % 2], `/v1/users/${user}/push`, 'POST', push.subscribe(`/p/${user}`).json);
      });
      const arrivals = new Map<string, number>();
      const record = (id: string) => arrivals.has(id) || arrivals.set(id, Date.now());
      const sentAt = new Map<string, number>();
      const before = await commandCounts(stats);
      const start = Date.now();
      const counted = { webhook: hooks.accepted.length, email: smtp.accepted.length, push: push.received.length };
      await pool(users, concurrency, async (user, i) => {
        const reply = await api(pods[i % 2], '/v1/notify', 'POST', { to: { users: [user] }, title: `Bench ${i}`, body: 'benchmark notification', urgency: 'high' });
        sentAt.set(reply.id, 0);
      });
      const queuedMs = Date.now() - start;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        for (const d of hooks.accepted.slice(counted.webhook)) record(d.body.notification.id);
        for (const m of smtp.accepted.slice(counted.email)) record(m.headers.get('x-meridian-notification')!);
        for (const m of push.received.slice(counted.push)) record(m.payload.id);
        counted.webhook = hooks.accepted.length;
        counted.email = smtp.accepted.length;
        counted.push = push.received.length;
        if (arrivals.size >= n) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const deliveredMs = Math.max(...arrivals.values()) - start;
      const after = await commandCounts(stats);
      const delta = commandDelta(before, after);
      // The notification's ts (stamped by the gateway at send) travels in each channel's payload.
      const latencies: number[] = [];
      for (const d of hooks.accepted) if (arrivals.has(d.body.notification.id)) latencies.push(arrivals.get(d.body.notification.id)! - d.body.notification.ts);
      for (const m of push.received) if (arrivals.has(m.payload.id) && m.payload.id.length > 0 && channel === 'push') latencies.push(arrivals.get(m.payload.id)! - m.payload.ts);
      if (channel === 'email') for (const id of arrivals.keys()) latencies.push(arrivals.get(id)! - (await notificationTs(id, smtp)));
      latencies.sort((a, b) => a - b);
      results.push({
        channel,
        notifications: n,
        delivered: arrivals.size,
        queuedPerSec: Math.round((n / queuedMs) * 1000),
        deliveredPerSec: Math.round((arrivals.size / deliveredMs) * 1000),
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
        redisCommandsPerNotification: Math.round((delta.total / n) * 10) / 10,
        redisCommands: delta.byCommand,
      });
      process.stderr.write(`${channel}: ${arrivals.size}/${n} delivered\n`);
    }
  } finally {
    stats.disconnect();
    for (const pod of pods) await pod.stop();
    await Promise.all([smtp.stop(), hooks.stop(), push.stop(), redis.stop()]);
  }
  const { path } = await saveRunRecord('notify', header, { options: { notifications: n, concurrency, pods: 2, generatorProcesses: 1 } }, [{ source: header.source, results }], (options.out as string) || undefined);
  process.stdout.write(
    markdownTable(
      ['channel', 'delivered', 'queued/s', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'Redis cmds/notification'],
      results.map((r) => [r.channel, `${r.delivered}/${r.notifications}`, r.queuedPerSec, r.deliveredPerSec, r.latencyMs.p50, r.latencyMs.p99, r.latencyMs.max, r.redisCommandsPerNotification]),
    ) + `\n\nwritten to ${path}\n`,
  );
  return results;
}

/** Emails carry the send time in their Date header only to the second: read it from the body's id instead. */
async function notificationTs(id: string, smtp: { accepted: { headers: Map<string, string>; raw: string }[] }): Promise<number> {
  const mail = smtp.accepted.find((m) => m.headers.get('x-meridian-notification') === id);
  const match = mail && /X-Meridian-Sent-At: (\d+)/i.exec(mail.raw);
  return match ? Number(match[1]) : NaN;
}
