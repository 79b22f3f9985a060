/**
 * The RealtimeCluster CRD created through @kubernetes/client-node's typed API keeps every
 * keyword, so the API server enforces enums and fills in defaults.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { realtimeClusterCrd, realtimeClusterCrdModel } from '../crds/crd.ts';
import { API_VERSION, CRD_NAME, GROUP, KIND, PLURAL, VERSION } from '../crds/types.ts';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { waitFor } from './helpers/net.ts';

const PATH = `/apis/${GROUP}/${VERSION}/namespaces/default/${PLURAL}`;

describe('the CRD through @kubernetes/client-node', () => {
  let sandbox: Sandbox;

  before(async () => {
    sandbox = await startSandbox();
    await sandbox.crds.createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
    await waitFor(async () => (await sandbox.raw('GET', PATH)).status === 200, { what: 'RealtimeCluster resource served' });
  });

  after(() => sandbox?.close());

  test('the stored CRD equals the generated one, enums, defaults and list types included', async () => {
    const stored = await sandbox.crds.readCustomResourceDefinition({ name: CRD_NAME });
    const raw = await sandbox.raw('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
    assert.deepEqual(JSON.parse(JSON.stringify(stored.spec.names)), realtimeClusterCrd().spec.names, 'the typed client reads it back');
    assert.deepEqual(raw.body.spec, realtimeClusterCrd().spec);
  });

  test('the API server fills in defaults of a RealtimeCluster created with the typed custom-objects API', async () => {
    const created = (await sandbox.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: 'default',
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'defaults' },
        spec: { gateway: { image: 'meridian:0.1.0', auth: { jwksUrl: 'https://auth.example.com/jwks.json' } }, regions: [{ name: 'local', redis: { urlSecretRef: { name: 'r', key: 'url' } } }] },
      },
    })) as { spec: { autoscaling: unknown; gateway: { history: unknown }; regions: { namespace: string }[]; paused: boolean } };
    assert.deepEqual(created.spec.autoscaling, { minReplicas: 2, maxReplicas: 50, targetConnectionsPerPod: 10000, scaleDownStabilizationSeconds: 300 });
    assert.deepEqual(created.spec.gateway.history, { size: 300, ttlSeconds: 600 });
    assert.equal(created.spec.regions[0].namespace, 'meridian');
    assert.equal(created.spec.paused, false);
  });

  test('an unknown enum value is rejected with 422 naming the field', async () => {
    const response = await sandbox.raw('POST', PATH, {
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'bad-strategy' },
        spec: { gateway: { image: 'meridian:0.1.0', auth: {} }, regions: [{ name: 'local' }], ai: { strategy: 'cheapest' } },
      },
    });
    assert.equal(response.status, 422);
    assert.match(response.body.message, /spec\.ai\.strategy: Unsupported value: "cheapest"/);
  });

  test('two regions with one name are rejected by the map list', async () => {
    const response = await sandbox.raw('POST', PATH, {
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'twins' },
        spec: { gateway: { image: 'meridian:0.1.0', auth: {} }, regions: [{ name: 'us-east1' }, { name: 'us-east1' }] },
      },
    });
    assert.equal(response.status, 422);
    assert.match(response.body.message, /spec\.regions\[1\]: Duplicate value/);
  });
});
