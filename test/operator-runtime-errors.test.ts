import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPERATOR_ERROR_CODES } from '../operator/errors.ts';
import { parseOperatorArgs } from '../operator/main.ts';
import { LeaderElector } from '../operator/leader.ts';
import { KubeClient } from '../operator/kube/client.ts';
import { KUBE_CLIENT_ERROR_CODES, KUBE_CONFIG_ERROR_CODES } from '../operator/kube/errors.ts';
import { pino } from 'pino';

test('every runtime error code is documented in docs/operator-runtime.md', () => {
  const doc = readFileSync(new URL('../docs/operator-runtime.md', import.meta.url), 'utf8');
  for (const code of [...Object.keys(OPERATOR_ERROR_CODES), ...Object.keys(KUBE_CONFIG_ERROR_CODES), ...Object.keys(KUBE_CLIENT_ERROR_CODES), 'KUBE_API_ERROR']) assert.ok(doc.includes(`\`${code}\``), `${code} is documented`);
});

test('bad flags fail with INVALID_ARGUMENT and name the flag', () => {
  assert.throws(() => parseOperatorArgs(['--workers', '0'], {}), { code: 'INVALID_ARGUMENT', message: /--workers/ });
  assert.throws(() => parseOperatorArgs(['--nope'], {}), { code: 'INVALID_ARGUMENT', message: /--nope/ });
  assert.throws(() => parseOperatorArgs([], { MERIDIAN_METRICS_PORT: 'eighty' }), { code: 'INVALID_ARGUMENT', message: /--metrics-port/ });
});

test('flags win over their environment variables, which win over defaults', () => {
  const env = { MERIDIAN_HUB_NAMESPACE: 'tenants', MERIDIAN_LEASE_DURATION_MS: '20000', MERIDIAN_OPERATOR_NAMESPACE: 'meridian-system' };
  const args = parseOperatorArgs(['--lease-duration-ms', '30000'], env);
  assert.equal(args.namespace, 'tenants');
  assert.equal(args.leaseDurationMs, 30_000);
  assert.equal(args.leaseNamespace, 'meridian-system');
  assert.equal(args.renewDeadlineMs, 10_000);
  assert.equal(parseOperatorArgs([], {}).leaseNamespace, 'default');
});

test('leader election refuses timings where the renew deadline is not below the lease duration', () => {
  const kube = new KubeClient({ context: 'x', cluster: 'c', user: 'u', server: 'http://127.0.0.1:1', namespace: 'default', insecureSkipTlsVerify: false, auth: { kind: 'none' } });
  const options = { kube, namespace: 'default', identity: 'me', logger: pino({ level: 'silent' }) };
  assert.throws(() => new LeaderElector({ ...options, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), { code: 'INVALID_LEADER_TIMING' });
  assert.throws(() => new LeaderElector({ ...options, identity: '' }), { code: 'INVALID_LEADER_IDENTITY' });
});
