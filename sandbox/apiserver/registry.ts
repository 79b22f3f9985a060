/**
 * The resource types the emulator serves: built-in kinds plus those registered by CRDs.
 * A type is addressed by group/version/plural; objects of all served versions of one
 * group/plural share one storage bucket (no conversion: "None" strategy, as CRDs default to).
 */
import type { StructuralSchema } from './validation.ts';

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  /** CRD columns: a JSONPath subset evaluated on the object. */
  jsonPath?: string;
  /** Built-in columns: computed from the object. */
  compute?: (obj: KubeObject) => unknown;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** `/status` subresource: main writes ignore status, status writes ignore the rest. */
  status: boolean;
  scale?: ScaleSubresource;
  /** metadata.generation is maintained (bumped on changes outside metadata and status). */
  generation: boolean;
  /** Strategic merge patch is accepted (built-ins only, as in kube-apiserver). */
  strategic: boolean;
  columns: PrinterColumn[];
  /** CRD-defined types: the structural schema of this version, and the CRD's name. */
  schema?: StructuralSchema;
  crdName?: string;
  /** Validation of a built-in kind's object; returns causes (empty: valid). */
  validate?: (obj: KubeObject) => Array<{ field: string; message: string }>;
  /** The version objects are stored at (the CRD's storage version); others are served as-is. */
  storageVersion: string;
  /** A storage bucket shared with another type (events.k8s.io/v1 Events are core/v1 Events). */
  bucket?: string;
  /** This version's form of a stored object, and back (default: the same). */
  fromStorage?: (obj: KubeObject) => KubeObject;
  toStorage?: (obj: KubeObject) => KubeObject;
}

/** A Kubernetes object as JSON. Stored objects are deeply frozen; copy before changing. */
export type KubeObject = Record<string, any>;

export function apiVersionOf(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Storage bucket: one per group/plural, unless the type shares another's. */
export function bucketOf(type: Pick<ResourceType, 'group' | 'plural'> & { bucket?: string }): string {
  return type.bucket ?? `${type.group}/${type.plural}`;
}

export class Registry {
  private readonly byPath = new Map<string, ResourceType>();
  private listeners: Array<() => void> = [];

  add(type: ResourceType): void {
    this.byPath.set(`${type.group}/${type.version}/${type.plural}`, type);
    this.changed();
  }

  /** Removes every version of group/plural (a deleted CRD). */
  removeResource(group: string, plural: string): void {
    for (const [key, type] of this.byPath) {
      if (type.group === group && type.plural === plural) this.byPath.delete(key);
    }
    this.changed();
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  findKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    for (const type of this.byPath.values()) {
      if (type.group === group && type.version === version && type.kind === kind) return type;
    }
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byPath.values()];
  }

  /** Group → versions served, in registration order (preferred first). */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const type of this.byPath.values()) {
      const versions = groups.get(type.group) ?? [];
      if (!versions.includes(type.version)) versions.push(type.version);
      groups.set(type.group, versions);
    }
    return groups;
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }

  /** Called after any change, so cached discovery documents can be dropped. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
