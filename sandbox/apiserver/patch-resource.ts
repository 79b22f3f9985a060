/**
 * PATCH of an object or its status, and the /scale subresource: decode the body by content
 * type, compute the patched object, then go through the same commit as every update.
 */
import { serverSideApply } from './apply.ts';
import { parseText } from './handlers/http.ts';
import { checkDecoded, own, setOwn } from './own.ts';
import { badRequest, conflict, notFound, unsupportedMediaType } from './errors.ts';
import { listTypesFor } from './listtypes.ts';
import { jsonPatch, mergePatch, strategicMerge } from './patch.ts';
import { apiVersionOf, type KubeObject, type ResourceType } from './registry.ts';
import type { Resources, WriteOptions } from './resources.ts';
import { selectorToString } from './selectors.ts';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

function parseBody(raw: string, yaml: boolean): any {
  const parsed = parseText(raw, yaml, 'error decoding patch');
  checkDecoded(parsed);
  return parsed;
}

export function patchResource(resources: Resources, type: ResourceType, namespace: string | undefined, name: string, contentType: string, raw: string, options: PatchOptions, now: Date): { object: KubeObject; created: boolean } {
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType === PATCH_TYPES.apply || mediaType === 'application/apply-patch+json') {
    return applyResource(resources, type, namespace, name, parseBody(raw, true), options, now);
  }
  const live = resources.get(type, namespace, name);
  // Patches work on a private copy (stored objects are frozen) of the requested version's form.
  const base = structuredClone(resources.present(type, live)) as KubeObject;
  let patched: KubeObject;
  if (mediaType === PATCH_TYPES.json) patched = jsonPatch(base, parseBody(raw, false));
  else if (mediaType === PATCH_TYPES.merge) patched = mergePatch(base, parseBody(raw, false));
  else if (mediaType === PATCH_TYPES.strategic && type.strategic) patched = strategicMerge(base, parseBody(raw, false), listTypesFor(type));
  else throw unsupportedMediaType(contentType);
  if (!patched || typeof patched !== 'object' || Array.isArray(patched)) throw badRequest('the patch produced something that is not an object');
  const rv = patched.metadata?.resourceVersion;
  if (rv && rv !== live.metadata.resourceVersion) throw conflict(type, name);
  return { object: resources.commit(type, live, patched, options), created: false };
}

export function applyResource(resources: Resources, type: ResourceType, namespace: string | undefined, name: string, config: any, options: PatchOptions, now: Date): { object: KubeObject; created: boolean } {
  if (!options.fieldManager) throw badRequest('PATCH /apply requires fieldManager to be set (fieldManager is required for apply requests)');
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw badRequest('error decoding patch: the applied configuration must be an object');
  if (!config.apiVersion || !config.kind) throw badRequest('apiVersion and kind must be set in the applied configuration');
  if (config.metadata?.name !== undefined && config.metadata.name !== name) {
    throw badRequest(`the name of the object (${config.metadata.name}) does not match the name on the URL (${name})`);
  }
  const live = resources.tryGet(type, namespace, name);
  const rv = config.metadata?.resourceVersion;
  if (live && rv && rv !== live.metadata.resourceVersion) throw conflict(type, name);
  if (!live && options.subresource) throw notFound(type, name);
  const request = {
    manager: options.fieldManager,
    force: !!options.force,
    subresource: options.subresource,
    statusSeparate: type.status,
    listTypes: listTypesFor(type),
    now,
    apiVersion: apiVersionOf(type),
  };
  const merged = serverSideApply(live && resources.present(type, live), { ...config, metadata: { ...config.metadata, name } }, request);
  if (!live) {
    const created = resources.create(type, namespace, merged, { ...options, appliedOwnership: true });
    return { object: created, created: true };
  }
  return { object: resources.commit(type, live, merged, options, 'Apply'), created: false };
}

// ---- /scale ----

function getPath(obj: KubeObject, path: string): any {
  let node: any = obj;
  for (const part of path.replace(/^\./, '').split('.')) node = own(node, part);
  return node;
}

function setPath(obj: KubeObject, path: string, value: unknown): void {
  const parts = path.replace(/^\./, '').split('.');
  let node: any = obj;
  for (const part of parts.slice(0, -1)) {
    if (own(node, part) === undefined) setOwn(node, part, {});
    node = own(node, part);
  }
  setOwn(node, parts[parts.length - 1], value);
}

export function toScale(type: ResourceType, obj: KubeObject): KubeObject {
  const scale = type.scale!;
  const selector = scale.labelSelectorPath ? getPath(obj, scale.labelSelectorPath) : undefined;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: getPath(obj, scale.specReplicasPath) ?? 0 },
    status: {
      replicas: getPath(obj, scale.statusReplicasPath) ?? 0,
      selector: typeof selector === 'string' ? selector : selector ? selectorToString(selector) : (type.kind === 'Deployment' ? selectorToString(obj.spec?.selector) : undefined),
    },
  };
}

/** PUT or PATCH of /scale: only spec.replicas reaches the object. */
export function writeScale(resources: Resources, type: ResourceType, namespace: string | undefined, name: string, change: (scale: KubeObject) => KubeObject, options: WriteOptions): KubeObject {
  const live = resources.get(type, namespace, name);
  const scale = change(toScale(type, live));
  const replicas = scale?.spec?.replicas;
  const rv = scale?.metadata?.resourceVersion;
  if (rv && rv !== live.metadata.resourceVersion) throw conflict(type, name);
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw badRequest(`Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
  }
  const next = structuredClone(live) as KubeObject;
  setPath(next, type.scale!.specReplicasPath, replicas);
  const stored = resources.commit(type, live, next, { ...options, subresource: 'scale' });
  return toScale(type, stored);
}
