/**
 * Just enough OpenAPI v3 for `kubectl apply`: per group-version documents whose PATCH
 * operations carry x-kubernetes-group-version-kind and a fieldValidation parameter (so kubectl
 * leaves validation to the server), and component schemas (CRDs: their structural schema;
 * built-ins: open objects, as the server validates them itself).
 */
import type { Registry, ResourceType } from './registry.ts';

function gvkOf(type: ResourceType): Record<string, string> {
  return { group: type.group, version: type.version, kind: type.kind };
}

export function schemaName(type: ResourceType): string {
  const reversed = type.group ? type.group.split('.').reverse().join('.') : 'core';
  return type.schema ? `${reversed}.${type.version}.${type.kind}` : `io.k8s.api.${type.group ? type.group.split('.')[0] : 'core'}.${type.version}.${type.kind}`;
}

export function openapiIndex(registry: Registry, hash: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const key = group ? `apis/${group}/${version}` : `api/${version}`;
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
    }
  }
  return { paths };
}

function operation(type: ResourceType, action: string, verb: string): Record<string, unknown> {
  const ref = { $ref: `#/components/schemas/${schemaName(type)}` };
  const body = { content: { 'application/json': { schema: ref } } };
  return {
    operationId: `${verb}${type.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvkOf(type),
    parameters: [
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      ...(action === 'patch' ? [{ name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }] : []),
    ],
    ...(action === 'get' ? {} : { requestBody: action === 'patch' ? { content: { 'application/merge-patch+json': { schema: { type: 'object' } }, 'application/apply-patch+yaml': { schema: { type: 'object' } } } } : body }),
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
  };
}

export function openapiDocument(registry: Registry, group: string, version: string): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const type of types) {
    const base = type.namespaced ? `${prefix}/namespaces/{namespace}/${type.plural}` : `${prefix}/${type.plural}`;
    paths[base] = { post: operation(type, 'post', 'create'), get: operation(type, 'list', 'list') };
    paths[`${base}/{name}`] = { get: operation(type, 'get', 'read'), put: operation(type, 'put', 'replace'), patch: operation(type, 'patch', 'patch'), delete: operation(type, 'delete', 'delete') };
    const schema = type.schema
      ? { ...type.schema, properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...type.schema.properties } }
      : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    schemas[schemaName(type)] = { ...schema, 'x-kubernetes-group-version-kind': [gvkOf(type)] };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } };
}
