/**
 * The operator renders `spec.ai` into each region's gateway.yaml and Secret; the gateway's own
 * config loader reads the rendered ConfigMap (with the environment the Deployment gives the pod,
 * secrets resolved from the rendered Secret) to exactly the AI configuration the spec asked for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RealtimeCluster } from '../crds/types.ts';
import { readConfigFile, resolveConfig } from '../gateway/config.ts';
import { planCluster } from '../operator/reconcile/desired.ts';
import { CONFIG_FILE, renderRegion } from '../operator/reconcile/render.ts';

const cluster: RealtimeCluster = {
  apiVersion: 'realtime.meridian.dev/v1alpha1',
  kind: 'RealtimeCluster',
  metadata: { name: 'classes', namespace: 'hub' },
  spec: {
    gateway: { image: 'meridian:test', auth: { jwtSecretRef: { name: 'auth', key: 'jwt' } } },
    regions: [{ name: 'us-east1', minReplicas: 1, maxReplicas: 1 }],
    ai: {
      strategy: 'cost',
      latencySloMs: 900,
      dailyBudgetUsd: 25,
      userDailyBudgetUsd: 0.5,
      onBudgetExceeded: 'reject',
      providers: [
        { name: 'openai', model: 'gpt-4o-mini', apiKeySecretRef: { name: 'ai-keys', key: 'openai' }, baseUrl: 'http://127.0.0.1:9/v1', inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 },
        { name: 'gemini', model: 'gemini-2.5-flash', apiKeySecretRef: { name: 'ai-keys', key: 'gemini' }, inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 },
        { name: 'local' },
      ],
      moderation: [{ rooms: 'class-*', mode: 'block', timeoutMs: 700, onTimeout: 'block' }, { rooms: '*', mode: 'flag' }],
      sentiment: { rooms: ['class-*'] },
    },
  },
} as RealtimeCluster;

const secrets: Record<string, Record<string, string>> = {
  auth: { jwt: 'a-jwt-secret-that-is-long-enough-for-hs256' },
  'ai-keys': { openai: 'sk-openai-test', gemini: 'gemini-test-key' },
};

test('the rendered gateway.yaml and Secret load through the gateway config loader to the spec.ai the cluster asked for', async () => {
  const b64 = (value: string) => Buffer.from(value).toString('base64');
  const readSecret = async (_namespace: string, name: string) =>
    secrets[name] ? { data: Object.fromEntries(Object.entries(secrets[name]).map(([k, v]) => [k, b64(v)])) } : undefined;
  const plan = await planCluster(readSecret, cluster, { preStopPauseSeconds: 5, drainWindowSeconds: 20, chooseReplicas: (_c, _r, bounds) => bounds.min });
  assert.deepEqual(plan.problems, []);
  const objects = renderRegion(plan.regions[0].plan) as Array<Record<string, any>>;
  const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
  const secret = objects.find((o) => o.kind === 'Secret')!;
  const deployment = objects.find((o) => o.kind === 'Deployment')!;

  // The pod's environment, as the kubelet would build it from the Deployment and the Secret.
  const env: Record<string, string> = {};
  for (const variable of deployment.spec.template.spec.containers[0].env as Array<Record<string, any>>) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = Buffer.from(secret.data[variable.valueFrom.secretKeyRef.key], 'base64').toString('utf8');
  }
  const dir = mkdtempSync(join(tmpdir(), 'meridian-ai-config-'));
  const path = join(dir, CONFIG_FILE);
  writeFileSync(path, configMap.data[CONFIG_FILE]);
  const config = resolveConfig(readConfigFile(path), env);

  const ai = config.ai!;
  assert.equal(ai.strategy, 'cost');
  assert.equal(ai.latencySloMs, 900);
  assert.equal(ai.dailyBudgetUsd, 25);
  assert.equal(ai.userDailyBudgetUsd, 0.5);
  assert.equal(ai.onBudgetExceeded, 'reject');
  assert.deepEqual(ai.providers, [
    { name: 'openai', model: 'gpt-4o-mini', apiKey: 'sk-openai-test', baseUrl: 'http://127.0.0.1:9/v1', api: 'chat', inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 },
    { name: 'gemini', model: 'gemini-2.5-flash', apiKey: 'gemini-test-key', api: 'chat', inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 },
    { name: 'local', model: 'meridian-local', api: 'chat', inputUsdPer1M: 0, outputUsdPer1M: 0 },
  ]);
  assert.deepEqual(ai.moderation, [
    { rooms: 'class-*', mode: 'block', timeoutMs: 700, onTimeout: 'block' },
    { rooms: '*', mode: 'flag', timeoutMs: 1000, onTimeout: 'allow' },
  ]);
  assert.deepEqual(ai.sentiment, { rooms: ['class-*'] });
  assert.doesNotMatch(configMap.data[CONFIG_FILE], /sk-openai-test|gemini-test-key/, 'keys travel in the Secret, never in the ConfigMap');
});

test('a cluster without spec.ai renders no ai block: AI stays off', async () => {
  const bare = structuredClone(cluster);
  delete bare.spec.ai;
  const readSecret = async (_namespace: string, name: string) => (secrets[name] ? { data: { jwt: 'eA==' } } : undefined);
  const plan = await planCluster(readSecret, bare, { preStopPauseSeconds: 5, drainWindowSeconds: 20, chooseReplicas: (_c, _r, bounds) => bounds.min });
  const configMap = (renderRegion(plan.regions[0].plan) as Array<Record<string, any>>).find((o) => o.kind === 'ConfigMap')!;
  assert.doesNotMatch(configMap.data[CONFIG_FILE], /^ai:/m);
});
