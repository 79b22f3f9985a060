/**
 * How a list at a given path merges: by key (a "map" list, e.g. containers by name), as a set
 * (finalizers), or atomically (replaced whole). Strategic merge patch and server-side apply both
 * ask this. CRD types answer from x-kubernetes-list-type; built-ins from a small table.
 */
import { own } from './own.ts';
import type { ResourceType } from './registry.ts';
import type { StructuralSchema } from './validation.ts';

export type ListType = { kind: 'map'; keys: string[] } | { kind: 'set' } | { kind: 'atomic' };

export type ListTypeOf = (path: string[]) => ListType;

const atomic: ListType = { kind: 'atomic' };

/** Built-in merge keys by the list field's name (and, for ports, its parent). */
function builtinListType(path: string[]): ListType {
  const field = path[path.length - 1];
  const parent = path[path.length - 2];
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return { kind: 'map', keys: ['name'] };
    case 'volumeMounts':
      return { kind: 'map', keys: ['mountPath'] };
    case 'conditions':
      return { kind: 'map', keys: ['type'] };
    case 'ownerReferences':
      return { kind: 'map', keys: ['uid'] };
    case 'finalizers':
      return parent === 'metadata' ? { kind: 'set' } : atomic;
    case 'ports':
      return parent === 'spec' && path.length === 2 ? { kind: 'map', keys: ['port'] } : { kind: 'map', keys: ['containerPort'] };
    default:
      return atomic;
  }
}

function schemaAt(schema: StructuralSchema | undefined, path: string[]): StructuralSchema | undefined {
  let current = schema;
  for (const part of path) {
    if (!current) return undefined;
    if (current.type === 'array') current = current.items;
    if (!current) return undefined;
    current = own(current.properties, part) ?? (typeof current.additionalProperties === 'object' ? current.additionalProperties : undefined);
  }
  return current;
}

/** `path` names properties only (list indexes are skipped). */
export function listTypesFor(type: ResourceType): ListTypeOf {
  if (!type.schema) return builtinListType;
  const schema = type.schema;
  return (path) => {
    if (path[0] === 'metadata') return builtinListType(path);
    const sub = schemaAt(schema, path);
    const listType = sub?.['x-kubernetes-list-type'];
    if (listType === 'map') return { kind: 'map', keys: sub?.['x-kubernetes-list-map-keys'] ?? [] };
    if (listType === 'set') return { kind: 'set' };
    return atomic;
  };
}
