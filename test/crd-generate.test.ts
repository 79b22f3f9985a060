import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { realtimeClusterCrd, realtimeClusterSchema } from '../crds/crd.ts';
import { generatedFiles } from '../crds/generate.ts';
import { schemaNodes, structuralProblems, valueProblems } from '../crds/schema-check.ts';
import type { RealtimeCluster } from '../crds/types.ts';
import { validateRealtimeCluster, type FieldProblem } from '../crds/validate.ts';

const root = new URL('..', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const SAMPLES = ['crds/samples/realtimecluster-minimal.yaml', 'crds/samples/realtimecluster-two-regions.yaml', 'crds/samples/realtimecluster-notifications.yaml'];

function sample(path: string): RealtimeCluster {
  const docs = parseAllDocuments(read(path)).map((d) => d.toJS());
  assert.equal(docs.length, 1, `${path} holds one object`);
  return docs[0] as RealtimeCluster;
}

/** The two-region sample, changed by `edit`: the base of every rule below. */
function variant(edit: (obj: RealtimeCluster) => void): RealtimeCluster {
  const obj = structuredClone(sample(SAMPLES[1]));
  obj.metadata.namespace = 'hub';
  edit(obj);
  return obj;
}

function fields(problems: FieldProblem[]): string[] {
  return problems.map((p) => `${p.field} ${p.reason}`);
}

describe('generated files', () => {
  test('the committed CRD, its chart copy and the docs field reference equal what crds/generate.ts produces', () => {
    for (const [path, expected] of generatedFiles(read)) {
      assert.ok(read(path) === expected, `${path} is out of date with crds/schema.ts: run \`node crds/generate.ts\` and commit the result`);
    }
  });

  test('the CRD names the group, version, kind, short name, scope, status subresource and printer columns', () => {
    const crd = parse(read('crds/realtime.meridian.dev_realtimeclusters.yaml'));
    assert.equal(crd.metadata.name, 'realtimeclusters.realtime.meridian.dev');
    assert.equal(crd.spec.group, 'realtime.meridian.dev');
    assert.deepEqual(crd.spec.names, {
      kind: 'RealtimeCluster',
      listKind: 'RealtimeClusterList',
      plural: 'realtimeclusters',
      singular: 'realtimecluster',
      shortNames: ['rtc'],
      categories: ['meridian'],
    });
    assert.equal(crd.spec.scope, 'Namespaced');
    const [version] = crd.spec.versions;
    assert.deepEqual([version.name, version.served, version.storage], ['v1alpha1', true, true]);
    assert.deepEqual(version.subresources, { status: {} });
    const columns = version.additionalPrinterColumns.filter((c: { priority?: number }) => !c.priority);
    assert.deepEqual(
      columns.map((c: { name: string; type: string; jsonPath: string }) => [c.name, c.type, c.jsonPath]),
      [
        ['Phase', 'string', '.status.phase'],
        ['Regions', 'string', '.status.regionsReady'],
        ['Connections', 'integer', '.status.connections'],
        ['Age', 'date', '.metadata.creationTimestamp'],
      ],
    );
    const regions = version.schema.openAPIV3Schema.properties.spec.properties.regions;
    assert.equal(regions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(regions['x-kubernetes-list-map-keys'], ['name']);
    assert.deepEqual([regions.minItems, regions.maxItems], [1, 20]);
  });
});

describe('schema', () => {
  test('is structural: every node has a type and no forbidden keyword', () => {
    assert.deepEqual(structuralProblems(realtimeClusterSchema()), []);
  });

  test('the structural check itself catches a node without a type and a forbidden keyword', () => {
    const problems = structuralProblems({ type: 'object', properties: { a: {}, b: { type: 'string', ...{ $ref: '#/x' } } } });
    assert.deepEqual(problems, ['<root>.a: no type', "<root>.b: keyword '$ref' is not allowed in a structural schema"]);
  });

  test('every spec and status field has a description, and every number has a minimum and a maximum', () => {
    const schema = realtimeClusterSchema();
    let numbers = 0;
    for (const part of ['spec', 'status'] as const) {
      for (const [path, node] of schemaNodes(schema.properties![part], part)) {
        const isMapValue = path.endsWith('.*');
        if (!isMapValue) assert.ok(node.description, `${path} has no description (kubectl explain shows it)`);
        if (node.type === 'integer' || node.type === 'number') {
          numbers += 1;
          assert.ok(node.minimum !== undefined && node.maximum !== undefined, `${path} needs both bounds`);
        }
      }
    }
    assert.ok(numbers > 20, `expected many bounded numbers, saw ${numbers}`);
  });

  test('defaults: gateway, history, autoscaling, ai, region namespace and paused', () => {
    const spec = realtimeClusterCrd().spec.versions[0].schema.openAPIV3Schema.properties!.spec;
    const at = (path: string) => path.split('.').reduce((node, name) => (name === '[]' ? node.items! : node.properties![name]), spec);
    assert.equal(at('gateway.maxConnectionsPerPod').default, 20000);
    assert.equal(at('gateway.history.size').default, 300);
    assert.equal(at('gateway.history.ttlSeconds').default, 600);
    assert.equal(at('autoscaling.minReplicas').default, 2);
    assert.equal(at('autoscaling.maxReplicas').default, 50);
    assert.equal(at('autoscaling.targetConnectionsPerPod').default, 10000);
    assert.equal(at('autoscaling.scaleDownStabilizationSeconds').default, 300);
    assert.equal(at('ai.strategy').default, 'balanced');
    assert.equal(at('ai.latencySloMs').default, 1500);
    assert.equal(at('regions.[].namespace').default, 'meridian');
    assert.equal(at('paused').default, false);
    for (const parent of ['gateway.limits', 'gateway.history', 'autoscaling']) {
      assert.deepEqual(at(parent).default, {}, `${parent} defaults to {} so that its fields are defaulted when it is left out`);
    }
  });

  for (const path of SAMPLES) {
    test(`sample ${path} satisfies the schema and the rules of crds/validate.ts`, () => {
      const obj = sample(path);
      assert.deepEqual(valueProblems(realtimeClusterSchema(), obj, ''), []);
      assert.deepEqual(validateRealtimeCluster(obj), []);
    });
  }

  test('bad values are reported with the field path, as kube-apiserver names it', () => {
    const obj = variant((o) => {
      o.spec.regions[0].name = 'US_East';
      o.spec.gateway.maxConnectionsPerPod = 0;
      (o.spec.ai as { strategy: string }).strategy = 'cheapest';
      (o.spec.gateway as unknown as Record<string, unknown>).replicas = 3;
      o.spec.regions.push({ ...o.spec.regions[1] });
    });
    const problems = valueProblems(realtimeClusterSchema(), obj, '').map((p) => `${p.field} ${p.reason}`);
    assert.deepEqual(problems.sort(), [
      'spec.ai.strategy FieldValueNotSupported',
      'spec.gateway.maxConnectionsPerPod FieldValueInvalid',
      'spec.gateway.replicas FieldValueInvalid',
      'spec.regions[0].name FieldValueInvalid',
      'spec.regions[2] FieldValueDuplicate',
    ]);
  });
});

describe('validateRealtimeCluster', () => {
  test('minReplicas above maxReplicas, for the cluster and for a region', () => {
    const problems = validateRealtimeCluster(
      variant((o) => {
        o.spec.autoscaling = { minReplicas: 10, maxReplicas: 5 };
        o.spec.regions[1].minReplicas = 30;
        o.spec.regions[1].maxReplicas = 20;
      }),
    );
    assert.deepEqual(fields(problems), ['spec.autoscaling.minReplicas FieldValueInvalid', 'spec.regions[1].minReplicas FieldValueInvalid']);
    assert.match(problems[0].message, /minReplicas 10 exceeds maxReplicas 5/);
  });

  test('a region whose own maxReplicas falls below the cluster minReplicas', () => {
    const problems = validateRealtimeCluster(variant((o) => (o.spec.regions[1] = { ...o.spec.regions[1], minReplicas: undefined, maxReplicas: 1 })));
    assert.deepEqual(fields(problems), ['spec.regions[1].maxReplicas FieldValueInvalid']);
  });

  test('duplicate region names', () => {
    const problems = validateRealtimeCluster(variant((o) => (o.spec.regions[1].name = 'us-east1')));
    assert.deepEqual(fields(problems), ['spec.regions[1].name FieldValueDuplicate']);
  });

  test('two regions in the same cluster and namespace collide', () => {
    const problems = validateRealtimeCluster(variant((o) => delete o.spec.regions[1].kubeconfigSecretRef));
    assert.deepEqual(fields(problems), ['spec.regions[1].namespace FieldValueDuplicate']);
    assert.match(problems[0].message, /already used by region 'us-east1'/);
  });

  test('two regions in the same cluster with different namespaces are fine', () => {
    const problems = validateRealtimeCluster(
      variant((o) => {
        delete o.spec.regions[1].kubeconfigSecretRef;
        o.spec.regions[1].namespace = 'meridian-eu';
      }),
    );
    assert.deepEqual(problems, []);
  });

  test('a region that may run several pods needs Redis', () => {
    const problems = validateRealtimeCluster(variant((o) => delete o.spec.regions[0].redis));
    assert.deepEqual(fields(problems), ['spec.regions[0].redis FieldValueRequired']);
  });

  test('the gateway needs a JWT secret or a JWKS URL', () => {
    const problems = validateRealtimeCluster(variant((o) => (o.spec.gateway.auth = {})));
    assert.deepEqual(fields(problems), ['spec.gateway.auth FieldValueRequired']);
  });

  test('the autoscaling target may not exceed the per-pod connection limit', () => {
    const problems = validateRealtimeCluster(variant((o) => (o.spec.gateway.maxConnectionsPerPod = 5000)));
    assert.deepEqual(fields(problems), ['spec.autoscaling.targetConnectionsPerPod FieldValueInvalid']);
  });

  test('AI provider combinations: remote ones need a key and a model, local takes neither key nor URL, cost needs prices', () => {
    const problems = validateRealtimeCluster(
      variant((o) => {
        o.spec.ai!.strategy = 'cost';
        o.spec.ai!.providers = [
          { name: 'openai', model: 'gpt-4o-mini', apiKeySecretRef: { name: 'meridian-ai', key: 'openai' }, inputUsdPer1M: 0.15 },
          { name: 'gemini' },
          { name: 'local', apiKeySecretRef: { name: 'x', key: 'y' }, baseUrl: 'http://127.0.0.1:9' },
          { name: 'local' },
        ];
      }),
    );
    assert.deepEqual(fields(problems), [
      'spec.ai.providers[0].outputUsdPer1M FieldValueRequired',
      'spec.ai.providers[1].apiKeySecretRef FieldValueRequired',
      'spec.ai.providers[1].model FieldValueRequired',
      'spec.ai.providers[1].inputUsdPer1M FieldValueRequired',
      'spec.ai.providers[1].outputUsdPer1M FieldValueRequired',
      'spec.ai.providers[2].apiKeySecretRef FieldValueForbidden',
      'spec.ai.providers[2].baseUrl FieldValueForbidden',
      'spec.ai.providers[3].name FieldValueDuplicate',
    ]);
  });

  test('names that cannot label regional objects', () => {
    const badName = validateRealtimeCluster(variant((o) => (o.metadata.name = 'Classrooms.EU')));
    assert.deepEqual(fields(badName), ['metadata.name FieldValueInvalid']);
    const tooLong = validateRealtimeCluster(variant((o) => (o.metadata.name = 'a'.repeat(60))));
    assert.deepEqual(fields(tooLong), ['metadata.name FieldValueTooLong']);
  });
});
