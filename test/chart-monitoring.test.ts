/**
 * The chart's Prometheus and Grafana parts: off by default, rendered when enabled, lint-clean,
 * and every metric a panel or an alert (or the operator's /dashboard) reads is one the code
 * exports — a renamed metric fails here instead of leaving an empty panel or a silent alert.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { helmBinary, skipUnless } from './helpers/services.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const chart = `${root}charts/meridian-operator`;
const skip = skipUnless(helmBinary, 'the helm chart monitoring scenarios');
const ALL_ON = ['monitoring.serviceMonitor.enabled=true', 'monitoring.podMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true', 'monitoring.grafanaDashboard.enabled=true'];

type K8sObject = { kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

function helm(args: string[]): string {
  const result = spawnSync(helmBinary.binary, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `helm ${args[0]} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

function render(sets: string[] = []): K8sObject[] {
  const out = helm(['template', 'rel', chart, '--namespace', 'meridian-system', '--kube-version', '1.30.0', ...sets.flatMap((s) => ['--set', s])]);
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

/** Metric names the code registers (prom-client `name:` fields and the helpers that take a name first). */
function exportedMetrics(): Set<string> {
  const files = ['gateway/metrics.ts', 'gateway/relay/metrics.ts', 'gateway/ai/metrics.ts', 'gateway/notify/metrics.ts', 'operator/metrics.ts'];
  const names = new Set<string>();
  for (const file of files) {
    const text = readFileSync(`${root}${file}`, 'utf8');
    for (const match of text.matchAll(/(?:name:\s*|gauge\(|catchUp\()'(meridian_[a-z0-9_]+)'/g)) names.add(match[1]);
  }
  return names;
}

/** Metric names in PromQL (histogram series suffixes folded into the histogram's name). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bmeridian_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

test('every metric the operator dashboard reads is one the code exports (no helm needed)', () => {
  const exported = exportedMetrics();
  assert.ok(exported.size > 30, `found the exported metrics (${exported.size})`);
  const collector = readFileSync(`${root}operator/dashboard/collector.ts`, 'utf8');
  const used = [...collector.matchAll(/'(meridian_[a-z0-9_]+)'/g)].map((m) => m[1]);
  assert.ok(used.length > 5);
  for (const name of used) assert.ok(exported.has(name), `operator/dashboard/collector.ts reads ${name}, which no metrics module exports`);
});

describe('chart monitoring', { skip }, () => {
  test('off by default: no prometheus-operator objects and no dashboard ConfigMap; the operator dashboard is on at loopback', () => {
    const objects = render();
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) assert.equal(objects.filter((o) => o.kind === kind).length, 0, `${kind} is off by default`);
    assert.equal(objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('grafana-dashboard')).length, 0);
    const env = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    assert.equal(env.find((e) => e.name === 'MERIDIAN_DASHBOARD_HOST')?.value, '127.0.0.1');
    assert.equal(env.find((e) => e.name === 'MERIDIAN_DASHBOARD_PORT')?.value, '9092');
  });

  test('helm lint passes with every monitoring part on', () => {
    assert.match(helm(['lint', chart, ...ALL_ON.flatMap((s) => ['--set', s])]), /0 chart\(s\) failed/);
  });

  test('enabled: ServiceMonitor, PodMonitor for the gateways, the alerts, and the Grafana ConfigMap with the sidecar label', () => {
    const objects = render(ALL_ON);
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor')!;
    assert.equal(monitor.spec.endpoints[0].port, 'metrics');
    const pods = objects.find((o) => o.kind === 'PodMonitor')!;
    assert.deepEqual(pods.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'meridian-gateway', 'app.kubernetes.io/managed-by': 'meridian-operator' });
    assert.equal(pods.spec.podMetricsEndpoints[0].port, 'metrics', 'the port name the operator gives the gateway container');
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    const alerts = rule.spec.groups[0].rules.map((r: { alert: string }) => r.alert).sort();
    assert.deepEqual(alerts, ['MeridianAiBudgetNearlySpent', 'MeridianDeliverP99OverSlo', 'MeridianOperatorNotLeading', 'MeridianRegionUnknown', 'MeridianRelayGaps', 'MeridianSlowConsumersRising']);
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('grafana-dashboard'))!;
    assert.equal(configMap.metadata.labels!.grafana_dashboard, '1');
    const dashboard = JSON.parse(configMap.data['meridian.json']);
    const titles = dashboard.panels.map((p: { title: string }) => p.title.toLowerCase()).join(' | ');
    // The /dashboard's parts, as panels.
    for (const part of ['region reachable', 'connections', 'messages in', 'messages out', 'p99', 'relay lag', 'gaps', 'ai requests', 'ai spend', 'sentiment', 'leader']) assert.ok(titles.includes(part), `a panel for ${part}: ${titles}`);
  });

  test('every metric a panel or an alert uses is one the code exports', () => {
    const exported = exportedMetrics();
    const objects = render(ALL_ON);
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('grafana-dashboard'))!;
    const exprs: Array<[string, string]> = [
      ...rule.spec.groups[0].rules.map((r: { alert: string; expr: string }) => [`alert ${r.alert}`, r.expr] as [string, string]),
      ...JSON.parse(configMap.data['meridian.json']).panels.flatMap((p: { title: string; targets: Array<{ expr: string }> }) => p.targets.map((t) => [`panel ${p.title}`, t.expr] as [string, string])),
    ];
    assert.ok(exprs.length >= 20);
    for (const [where, expr] of exprs) {
      const names = metricsIn(expr);
      assert.ok(names.length > 0, `${where} reads a Meridian metric`);
      for (const name of names) assert.ok(exported.has(name), `${where} uses ${name}, which the code does not export`);
    }
  });
});
