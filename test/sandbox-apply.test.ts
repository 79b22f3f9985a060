/**
 * Server-side apply in the API emulator: field managers, conflicts, force, co-ownership,
 * removal of fields a manager stops applying, no-op applies, and the HPA/operator split on
 * spec.replicas — through @kubernetes/client-node and raw YAML bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { applyPatch, bodyOf, deployment, mergePatch, startSandbox, statusOf, type Sandbox } from './helpers/apiserver.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'apply' });
});
after(() => sb.close());

const apply = (body: k8s.V1Deployment, fieldManager: string, force = false) =>
  sb.apps.patchNamespacedDeployment({ namespace: 'default', name: body.metadata!.name!, body, fieldManager, force }, applyPatch);

const managers = (d: k8s.V1Deployment) => (d.metadata!.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`).sort();

describe('server-side apply', () => {
  test('apply creates the object and records an Apply entry for the manager', async () => {
    const created = await apply(deployment('ssa', 2), 'operator');
    assert.equal(created.spec!.replicas, 2);
    assert.deepEqual(managers(created).filter((m) => m.endsWith('/Apply')), ['operator/Apply']);
    const fields = created.metadata!.managedFields![0].fieldsV1 as any;
    assert.ok(fields['f:spec']['f:replicas'], 'spec.replicas is owned');
    assert.ok(fields['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"main"}'], 'containers are keyed by name');
  });

  test('applying the same configuration again writes nothing and keeps the resourceVersion', async () => {
    const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'noop', labels: { a: 'b' } }, data: { k: 'v' } };
    const applyConfigMap = () => sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'noop', body: config, fieldManager: 'operator' }, applyPatch);
    const first = await applyConfigMap();
    const writes = sb.server.requestCount({ writesOnly: true });
    const again = await applyConfigMap();
    assert.equal(again.metadata!.resourceVersion, first.metadata!.resourceVersion);
    assert.equal(again.metadata!.managedFields![0].time!.getTime(), first.metadata!.managedFields![0].time!.getTime());
    assert.equal(sb.server.requestCount({ writesOnly: true }), writes + 1, 'one PATCH request was received');
  });

  test('another manager setting an owned field to a different value is a 409 naming field and manager', async () => {
    await assert.rejects(apply(deployment('ssa', 5), 'autoscaler'), (error) => {
      assert.equal(statusOf(error), 409);
      const status = bodyOf(error);
      assert.equal(status.reason, 'Conflict');
      assert.equal(status.message, 'Apply failed with 1 conflict: conflict with "operator" using apps/v1: .spec.replicas');
      assert.deepEqual(status.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "operator" using apps/v1', field: '.spec.replicas' }]);
      return true;
    });
  });

  test('the same value is shared ownership, not a conflict', async () => {
    const shared = await apply(deployment('ssa', 2), 'auditor');
    assert.deepEqual(managers(shared).filter((m) => m.endsWith('/Apply')), ['auditor/Apply', 'operator/Apply']);
  });

  test('force takes the field over; the previous owner then conflicts', async () => {
    const forced = await apply(deployment('ssa', 5), 'autoscaler', true);
    assert.equal(forced.spec!.replicas, 5);
    const operatorEntry = forced.metadata!.managedFields!.find((m) => m.manager === 'operator')!;
    assert.equal((operatorEntry.fieldsV1 as any)['f:spec']['f:replicas'], undefined, 'operator lost spec.replicas');
    await assert.rejects(apply(deployment('ssa', 2), 'operator'), (error) => statusOf(error) === 409 && /conflicts? with "(autoscaler|auditor)"/.test(bodyOf(error).message));
  });

  test('fields a manager stops applying are removed, unless another manager owns them', async () => {
    const withLabels = deployment('prune', 1);
    withLabels.metadata!.labels = { app: 'prune', team: 'rt', tier: 'edge' };
    await apply(withLabels, 'operator');
    const other = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'prune', labels: { tier: 'edge' } } };
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'prune', body: other, fieldManager: 'labeller' }, applyPatch);
    const fewer = deployment('prune', 1);
    fewer.metadata!.labels = { app: 'prune' };
    const after = await apply(fewer, 'operator');
    assert.deepEqual(after.metadata!.labels, { app: 'prune', tier: 'edge' });
  });

  test('an Update by another manager (merge patch) also owns fields and conflicts with apply', async () => {
    await apply(deployment('edited', 1), 'operator');
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'edited', body: { spec: { replicas: 3 } }, fieldManager: 'kubectl-edit' }, mergePatch);
    await assert.rejects(apply(deployment('edited', 1), 'operator'), (error) => {
      assert.equal(statusOf(error), 409);
      assert.match(bodyOf(error).message, /conflict with "kubectl-edit" using apps\/v1: \.spec\.replicas/);
      return true;
    });
  });

  test('an operator that leaves replicas out does not fight the scaler that writes /scale', async () => {
    await apply(deployment('hpa', 2), 'operator');
    const withoutReplicas = deployment('hpa', 2);
    delete withoutReplicas.spec!.replicas;
    await apply(withoutReplicas, 'operator');
    const scaled = await sb.raw('PATCH', '/apis/apps/v1/namespaces/default/deployments/hpa/scale?fieldManager=hpa', { body: { spec: { replicas: 7 } }, contentType: 'application/merge-patch+json' });
    assert.equal(scaled.status, 200);
    const changedImage = deployment('hpa', 2, 'nginx:1.28');
    delete changedImage.spec!.replicas;
    const after = await apply(changedImage, 'operator');
    assert.equal(after.spec!.replicas, 7, 'the scaler keeps spec.replicas');
    assert.equal(after.spec!.template.spec!.containers[0].image, 'nginx:1.28');
  });

  test('YAML bodies work; a missing fieldManager is 400', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  key: value\n';
    const ok = await sb.raw('PATCH', '/api/v1/namespaces/default/configmaps/from-yaml?fieldManager=cli', { body: yaml, contentType: 'application/apply-patch+yaml' });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.data, { key: 'value' });
    const missing = await sb.raw('PATCH', '/api/v1/namespaces/default/configmaps/from-yaml', { body: yaml, contentType: 'application/apply-patch+yaml' });
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /fieldManager/);
  });

  test('apply to /status owns status fields separately', async () => {
    const status = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ssa' }, status: { observedGeneration: 9 } };
    const response = await sb.raw('PATCH', '/apis/apps/v1/namespaces/default/deployments/ssa/status?fieldManager=status-writer&force=true', { body: status, contentType: 'application/apply-patch+yaml' });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.status.observedGeneration, 9);
    const entry = response.body.metadata.managedFields.find((m: any) => m.manager === 'status-writer');
    assert.equal(entry.subresource, 'status');
    assert.equal(entry.operation, 'Apply');
  });
});
