/**
 * spec.notifications rendered into the gateways: the operator's plan puts the channels in the
 * gateway's `notify` config, the secrets in the region Secret as MERIDIAN_NOTIFY_* variables
 * (never in the config file), and the gateway accepts the result.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { V1Secret } from '@kubernetes/client-node';
import type { RealtimeCluster } from '../crds/types.ts';
import { validateRealtimeCluster } from '../crds/validate.ts';
import { resolveConfig } from '../gateway/config.ts';
import { planCluster } from '../operator/reconcile/desired.ts';

const sample = parse(readFileSync(new URL('../crds/samples/realtimecluster-notifications.yaml', import.meta.url), 'utf8')) as RealtimeCluster;
sample.metadata.namespace = 'hub';

const secrets: Record<string, Record<string, string>> = {
  'meridian-auth': { 'jwt-secret': 'j'.repeat(40), 'api-key': 'k'.repeat(20) },
  'meridian-redis-eu': { url: 'redis://redis:6379' },
  'meridian-notify': { 'vapid-private-key': 'vapid-private-9c2e', 'smtp-password': 'smtp-password-41aa', 'webhook-secret': 'webhook-secret-77d0' },
};
const readSecret = async (_namespace: string, name: string): Promise<V1Secret | undefined> => {
  const data = secrets[name];
  return data ? { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) } : undefined;
};
const options = { preStopPauseSeconds: 5, drainWindowSeconds: 30, chooseReplicas: (_c: unknown, _r: unknown, b: { min: number }) => b.min };

describe('spec.notifications', () => {
  it('the sample is valid', () => {
    assert.deepEqual(validateRealtimeCluster(sample), []);
  });

  it('renders the channels into the gateway config and the secrets into environment variables the gateway accepts', async () => {
    const plan = await planCluster(readSecret, sample, options);
    assert.deepEqual(plan.problems, []);
    const region = plan.regions[0].plan;
    const notify = region.gatewayConfig.notify as Record<string, any>;
    assert.deepEqual(notify.push, { vapidPublicKey: sample.spec.notifications!.webPush!.vapidPublicKey, subject: 'mailto:ops@school.example' });
    assert.deepEqual(notify.defaultChannels, { high: 'push,email,webhook', normal: 'push,email', low: 'push,email', veryLow: 'push' });
    assert.equal(notify.digestWindowMs, 3_600_000);
    assert.equal(notify.roomRules, 'class-*');
    const configText = JSON.stringify(region.gatewayConfig);
    for (const secret of Object.values(secrets['meridian-notify'])) assert.equal(configText.includes(secret), false, 'no secret in the config file');
    const env: Record<string, string> = {};
    for (const { name, key } of region.secretEnv) env[name] = Buffer.from(region.secretData[key], 'base64').toString();
    assert.equal(env.MERIDIAN_NOTIFY_PUSH_VAPID_PRIVATE_KEY, 'vapid-private-9c2e');
    assert.equal(env.MERIDIAN_NOTIFY_EMAIL_PASSWORD, 'smtp-password-41aa');
    assert.equal(env.MERIDIAN_NOTIFY_WEBHOOK_SECRET, 'webhook-secret-77d0');
    const config = resolveConfig(region.gatewayConfig, env);
    assert.equal(config.notify.webhook.url, 'https://backend.school.example/hooks/meridian');
    assert.equal(config.notify.webhook.secret, 'webhook-secret-77d0');
    assert.equal(config.notify.email.password, 'smtp-password-41aa');
  });

  it('a missing notification Secret is a spec problem naming the field', async () => {
    const plan = await planCluster(async (ns, name) => (name === 'meridian-notify' ? undefined : readSecret(ns, name)), sample, options);
    assert.ok(plan.problems.some((p) => p.field === 'spec.notifications.webPush.vapidPrivateKeySecretRef.name'), JSON.stringify(plan.problems));
  });
});
