/**
 * The RealtimeCluster CustomResourceDefinition as an object, built from crds/schema.ts.
 * crds/generate.ts writes it to YAML; code that creates it through @kubernetes/client-node's
 * typed APIs must use realtimeClusterCrdModel() (see there).
 */
import { loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { JSONSchemaProps } from './schema-builder.ts';
import { specSchema, statusSchema } from './schema.ts';
import { CATEGORIES, CRD_NAME, GROUP, KIND, LIST_KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './types.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export const PRINTER_COLUMNS: readonly PrinterColumn[] = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Progressing, Ready or Degraded.' },
  { name: 'Regions', type: 'string', jsonPath: '.status.regionsReady', description: 'Ready regions out of all regions.' },
  { name: 'Connections', type: 'integer', jsonPath: '.status.connections', description: 'WebSocket connections across reachable regions.' },
  { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'Whether reconciling is paused.', priority: 1 },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the object was created.' },
];

/** The whole object schema: apiVersion, kind, metadata, spec, status. */
export function realtimeClusterSchema(): JSONSchemaProps {
  return {
    type: 'object',
    description:
      'RealtimeCluster runs Meridian WebSocket gateways in one or more regions, relays messages between them, and routes AI requests. Reconciled by the meridian operator.',
    properties: {
      apiVersion: { type: 'string', description: 'Versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'REST resource this object represents.' },
      metadata: { type: 'object' },
      spec: specSchema.node,
      status: statusSchema.node,
    },
    required: ['spec'],
  };
}

/** The CRD as plain JSON, in the API's field names (`enum`, `default`, `x-kubernetes-*`). */
export function realtimeClusterCrd() {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/part-of': 'meridian' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((column) => ({ ...column })),
          schema: { openAPIV3Schema: realtimeClusterSchema() },
        },
      ],
    },
  };
}

/**
 * The CRD as @kubernetes/client-node's model object, for `ApiextensionsV1Api` calls.
 *
 * The typed APIs serialize their body through the library's model classes, which name fields
 * differently (`_enum`, `_default`, `xKubernetesListType`): a plain object passed to them loses
 * every enum, default and x-kubernetes-* keyword without an error. loadYaml converts the plain
 * object into the models (JSON is YAML), so serialization restores the API's field names.
 */
export function realtimeClusterCrdModel(): V1CustomResourceDefinition {
  return loadYaml<V1CustomResourceDefinition>(JSON.stringify(realtimeClusterCrd()));
}
