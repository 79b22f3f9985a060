import { KubeClientError } from './errors.ts';

/**
 * URL paths of API resources. The kinds the operator reads and writes are known here (plural,
 * namespaced or not); any other kind is looked up once per client through discovery
 * (GET /api/v1 or /apis/<group>/<version>), as kubectl does.
 */

export interface ResourceRef {
  apiVersion: string;
  kind: string;
  /** The resource's plural name, as in its URL. */
  plural: string;
}

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

const KNOWN: Readonly<Record<string, ResourceInfo>> = Object.freeze({
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/ReplicaSet': { plural: 'replicasets', namespaced: true },
  'policy/v1/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
  'realtime.meridian.dev/v1alpha1/RealtimeCluster': { plural: 'realtimeclusters', namespaced: true },
});

export function knownResource(apiVersion: string, kind: string): ResourceInfo | undefined {
  return KNOWN[`${apiVersion}/${kind}`];
}

/** /api/v1 for the core group, /apis/<group>/<version> otherwise. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/**
 * One path segment naming an object or namespace. An empty name would make an object's path its
 * collection's (a DELETE would become a deletecollection), and "." or ".." would climb out of it
 * once the URL is normalized: all three are refused (no Kubernetes object has such a name).
 */
function nameSegment(name: string, what: string): string {
  if (name === '' || name === '.' || name === '..') throw new KubeClientError('KUBE_OBJECT_NAME_REQUIRED', `${what} name ${JSON.stringify(name)} cannot name an object`);
  return encodeURIComponent(name);
}

/** All namespaces when `namespace` is undefined or empty. */
export function collectionPath(resource: { apiVersion: string; plural: string }, namespace?: string): string {
  return `${groupVersionPath(resource.apiVersion)}${namespace ? `/namespaces/${nameSegment(namespace, 'namespace')}` : ''}/${resource.plural}`;
}

export function objectPath(resource: { apiVersion: string; plural: string }, namespace: string | undefined, name: string, subresource?: string): string {
  return `${collectionPath(resource, namespace)}/${nameSegment(name, 'object')}${subresource ? `/${subresource}` : ''}`;
}
