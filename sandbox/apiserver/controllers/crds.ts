/**
 * CustomResourceDefinitions: validates a CRD, serves its versions the moment it is stored
 * (registration is synchronous, so a CR can be created right after its CRD), marks it
 * Established, and on deletion stops serving it and drops its objects.
 */
import type { StatusCause } from '../errors.ts';
import { bucketOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { ChangeEvent, Store } from '../store.ts';
import { crdColumns } from '../table.ts';
import { timestamp } from '../time.ts';
import { checkStructural, type StructuralSchema } from '../validation.ts';

export const CRD_BUCKET = 'apiextensions.k8s.io/customresourcedefinitions';

export function validateCrd(crd: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  if (!spec.group) causes.push({ field: 'spec.group', message: 'Required value' });
  if (!names.plural) causes.push({ field: 'spec.names.plural', message: 'Required value' });
  if (!names.kind) causes.push({ field: 'spec.names.kind', message: 'Required value' });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') causes.push({ field: 'spec.scope', message: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"` });
  if (spec.group && names.plural && crd.metadata?.name !== `${names.plural}.${spec.group}`) {
    causes.push({ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(crd.metadata?.name)}: must be spec.names.plural+"."+spec.group` });
  }
  const versions: KubeObject[] = spec.versions ?? [];
  if (versions.length === 0) causes.push({ field: 'spec.versions', message: 'Invalid value: null: must have exactly one version marked as storage version' });
  else if (versions.filter((v) => v.storage).length !== 1) causes.push({ field: 'spec.versions', message: `Invalid value: ${JSON.stringify(versions)}: must have exactly one version marked as storage version` });
  versions.forEach((v, i) => {
    for (const e of checkStructural(v.schema?.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`)) causes.push({ field: e.field, message: e.message });
  });
  return causes.map((c) => ({ reason: 'FieldValueInvalid', ...c }));
}

export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = crd.spec;
  const storage = (spec.versions as KubeObject[]).find((v) => v.storage)?.name ?? spec.versions[0].name;
  return (spec.versions as KubeObject[])
    .filter((v) => v.served !== false)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      plural: spec.names.plural,
      singular: spec.names.singular ?? String(spec.names.kind).toLowerCase(),
      namespaced: spec.scope === 'Namespaced',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      status: v.subresources?.status !== undefined,
      scale: v.subresources?.scale,
      generation: true,
      strategic: false,
      columns: crdColumns(v.additionalPrinterColumns),
      schema: v.schema?.openAPIV3Schema as StructuralSchema,
      crdName: crd.metadata.name,
      storageVersion: storage,
    }));
}

export class CrdController {
  private readonly registry: Registry;
  private readonly store: Store;
  private readonly resources: Resources;
  private readonly now: () => Date;
  private readonly onError: (error: unknown) => void;

  constructor(deps: { registry: Registry; store: Store; resources: Resources; now: () => Date; onError: (error: unknown) => void }) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.now = deps.now;
    this.onError = deps.onError;
    this.store.subscribe({ bucket: CRD_BUCKET, deliver: (event) => this.changed(event) });
  }

  private changed(event: ChangeEvent): void {
    const crd = event.object;
    const group = crd.spec.group;
    const plural = crd.spec.names.plural;
    this.registry.removeResource(group, plural);
    if (event.type === 'DELETED') {
      const bucket = `${group}/${plural}`;
      // Instances go with their definition (a real cluster waits for their finalizers first).
      for (const obj of this.store.list(bucket)) this.store.remove(bucket, obj.metadata.namespace, obj.metadata.name);
      return;
    }
    for (const type of typesOfCrd(crd)) this.registry.add(type);
    if (!crd.metadata.deletionTimestamp && !isEstablished(crd)) {
      // Status is written after the current write finishes; the types are served already.
      queueMicrotask(() => this.establish(crd.metadata.name));
    }
  }

  private establish(name: string): void {
    try {
      const crdType = this.registry.find('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
      const live = this.store.get(bucketOf(crdType), undefined, name);
      if (!live || isEstablished(live)) return;
      const now = timestamp(this.now());
      const condition = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now, reason, message });
      const next = structuredClone(live) as KubeObject;
      next.status = {
        conditions: [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'), condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
        acceptedNames: live.spec.names,
        storedVersions: (live.spec.versions as KubeObject[]).filter((v) => v.storage).map((v) => v.name),
      };
      this.resources.commit(crdType, live, next, { subresource: 'status', fieldManager: 'apiextensions-apiserver' });
    } catch (error) {
      this.onError(error);
    }
  }
}

function isEstablished(crd: KubeObject): boolean {
  return (crd.status?.conditions ?? []).some((c: KubeObject) => c.type === 'Established' && c.status === 'True');
}
