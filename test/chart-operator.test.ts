import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { chartCrdTemplate, CHART_CRD_FILE, CRD_FILE } from '../crds/generate.ts';
import { helmBinary, skipUnless } from './helpers/services.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const chart = `${root}charts/meridian-operator`;
const helm = helmBinary.binary;
const skip = skipUnless(helmBinary, 'the helm chart scenarios');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

function runHelm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(helm, args, { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of the chart with `--set` values; fails the test with helm's message on error. */
function render(sets: string[] = [], namespace = 'meridian-system'): K8sObject[] {
  const args = ['template', 'rel', chart, '--namespace', namespace, '--kube-version', '1.30.0', ...sets.flatMap((s) => ['--set', s])];
  const result = runHelm(args);
  assert.equal(result.status, 0, `helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

const find = (objects: K8sObject[], kind: string, name?: string) => objects.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
const rulesOf = (role: K8sObject) => role.rules as Rule[];

test('the chart carries the generated CRD template (no helm needed)', () => {
  assert.ok(readFileSync(`${root}${CHART_CRD_FILE}`, 'utf8') === chartCrdTemplate(), `${CHART_CRD_FILE} drifted: run \`node crds/generate.ts\``);
});

describe('helm chart meridian-operator', { skip }, () => {
  test('helm lint passes', () => {
    const result = runHelm(['lint', chart]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('default values render the operator Deployment, ServiceAccount, RBAC, metrics Service, PDB and the CRD', () => {
    const objects = render();
    const kinds = objects.map((o) => o.kind).sort();
    assert.deepEqual(kinds, [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'Role',
      'RoleBinding',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const [deployment] = find(objects, 'Deployment');
    const pod = (deployment.spec as { template: { spec: { containers: { command: string[]; env: { name: string; value?: string }[] }[]; serviceAccountName: string } } }).template.spec;
    assert.deepEqual(pod.containers[0].command, ['meridian', 'operator']);
    assert.equal(pod.serviceAccountName, 'rel-meridian-operator');
    const env = Object.fromEntries(pod.containers[0].env.map((e) => [e.name, e.value]));
    assert.equal(env.MERIDIAN_HUB_NAMESPACE, 'meridian-system');
    assert.equal(env.MERIDIAN_LEASE_DURATION_MS, '15000');
    const [service] = find(objects, 'Service');
    assert.equal((service.spec as { ports: { port: number }[] }).ports[0].port, 9090);
  });

  test('the rendered CRD is the committed CRD, kept on uninstall by default', () => {
    const [crd] = find(render(), 'CustomResourceDefinition');
    const committed = parse(readFileSync(`${root}${CRD_FILE}`, 'utf8'));
    assert.deepEqual(crd.spec, committed.spec);
    assert.equal(crd.metadata.name, committed.metadata.name);
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.equal(crd.metadata.labels?.['app.kubernetes.io/part-of'], 'meridian');
  });

  test('crds.keep=false drops the keep policy; crds.install=false leaves the CRD out', () => {
    const [unkept] = find(render(['crds.keep=false']), 'CustomResourceDefinition');
    assert.equal(unkept.metadata.annotations, undefined);
    assert.deepEqual(find(render(['crds.install=false']), 'CustomResourceDefinition'), []);
  });

  test('RBAC is least privilege: hub rights in the hub namespace, the Lease by name, no wildcards', () => {
    const objects = render(['hubNamespace=classrooms', 'rbac.localRegion=false'], 'ops');
    assert.deepEqual(find(objects, 'ClusterRole'), [], 'no cluster-wide rights without a local region');
    const [hub] = find(objects, 'Role', 'rel-meridian-operator-hub');
    assert.equal(hub.metadata.namespace, 'classrooms');
    const hubRules = rulesOf(hub);
    const verbsFor = (resource: string) => hubRules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    assert.deepEqual(verbsFor('realtimeclusters'), ['get', 'list', 'patch', 'update', 'watch']);
    assert.deepEqual(verbsFor('realtimeclusters/status'), ['get', 'patch', 'update']);
    assert.deepEqual(verbsFor('realtimeclusters/finalizers'), ['update']);
    assert.deepEqual(verbsFor('secrets'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor('events'), ['create', 'patch']);
    const [lease] = find(objects, 'Role', 'rel-meridian-operator-leader-election');
    assert.equal(lease.metadata.namespace, 'ops');
    const named = rulesOf(lease).find((r) => r.resourceNames);
    assert.deepEqual(named?.resourceNames, ['meridian-operator']);
    for (const role of [...find(objects, 'Role'), ...find(objects, 'ClusterRole')]) {
      for (const rule of rulesOf(role)) {
        assert.ok(![...rule.verbs, ...rule.resources, ...rule.apiGroups].includes('*'), `${role.metadata.name} has a wildcard`);
      }
    }
    for (const binding of find(objects, 'RoleBinding')) {
      assert.deepEqual((binding.subjects as unknown[])[0], { kind: 'ServiceAccount', name: 'rel-meridian-operator', namespace: 'ops' });
    }
  });

  test('a local region grants gateway objects and the pod proxy cluster-wide, and never RealtimeClusters', () => {
    const [clusterRole] = find(render(), 'ClusterRole');
    const resources = rulesOf(clusterRole).flatMap((r) => r.resources);
    for (const needed of ['namespaces', 'deployments', 'services', 'configmaps', 'poddisruptionbudgets', 'pods/proxy']) {
      assert.ok(resources.includes(needed), `ClusterRole lacks ${needed}`);
    }
    assert.ok(!resources.some((r) => r.startsWith('realtimeclusters')));
  });

  test('one replica gets no PDB (it would block every node drain)', () => {
    assert.deepEqual(find(render(['replicaCount=1']), 'PodDisruptionBudget'), []);
  });

  test('values.schema.json rejects bad values with the field named', () => {
    for (const [set, field] of [
      ['replicaCount=0', 'replicaCount'],
      ['crds.install=yes', 'crds.install'],
      ['image.pullPolicy=Sometimes', 'image.pullPolicy'],
      ['hubNamespace=Not_A_Namespace', 'hubNamespace'],
      ['unknownSetting=1', 'unknownSetting'],
      ['leaderElection.renewDeadlineSeconds=20', 'leaderElection.renewDeadlineSeconds'],
    ]) {
      const result = runHelm(['template', 'rel', chart, '--kube-version', '1.30.0', '--set', set]);
      assert.notEqual(result.status, 0, `--set ${set} should be rejected`);
      assert.ok(result.stderr.includes(field), `helm's message for ${set} names ${field}: ${result.stderr}`);
    }
  });
});
