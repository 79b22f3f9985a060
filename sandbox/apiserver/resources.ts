/**
 * The resource operations every caller goes through — HTTP handlers and the built-in
 * controllers alike — so that resourceVersion, generation, subresources, finalizers, validation
 * and field ownership behave the same whoever writes.
 */
import { randomUUID } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { ApiError, alreadyExists, badRequest, conflict, forbidden, invalid, notFound, type StatusCause } from './errors.ts';
import { applyBuiltinDefaults } from './defaults.ts';
import { admit } from './admission.ts';
import { decodeMeta } from './metadata.ts';
import type { FieldValidation } from './query.ts';
import { strategyOf } from './strategies.ts';
import { listTypesFor } from './listtypes.ts';
import { initialPodStatus } from './pod-qos.ts';
import { recordUpdate } from './managed-fields.ts';
import { apiVersionOf, bucketOf, type KubeObject, type Registry, type ResourceType } from './registry.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Store } from './store.ts';
import { timestamp } from './time.ts';

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
  /** 'status' or 'scale' when the write came through a subresource. */
  subresource?: string;
  /** Create by server-side apply: managedFields in the body are already computed. */
  appliedOwnership?: boolean;
  /** Unknown fields: 'Strict' rejects them (400), otherwise they are pruned ('Warn' also warns; internal writes leave it unset: Ignore). */
  fieldValidation?: FieldValidation;
  /** Receives warnings for the response's Warning header. */
  warn?: (message: string) => void;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Pods only: how long the runner may take to stop them; 0 removes at once. */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continueToken?: string | null;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface ResourcesContext {
  store: Store;
  registry: Registry;
  now: () => Date;
  /** Called after a deletion starts or finishes, so garbage collection can look again. */
  onDeletion: () => void;
}


function isPod(type: ResourceType): boolean {
  return type.kind === 'Pod' && type.group === '';
}

/** Namespaces kube-apiserver refuses to delete. */
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(length = 5): string {
  let out = '';
  for (let i = 0; i < length; i++) out += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return out;
}

function sameExceptRv(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => canonicalJson({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return strip(a) === strip(b);
}

/** Everything but metadata and status: what a generation counts. */
function specPart(o: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return canonicalJson(rest);
}

export class Resources {
  private readonly ctx: ResourcesContext;

  constructor(ctx: ResourcesContext) {
    this.ctx = ctx;
  }

  /** A stored object as a client of `type`'s version sees it (apiVersion differs across CRD versions). */
  present(type: ResourceType, obj: KubeObject): KubeObject {
    const apiVersion = apiVersionOf(type);
    const shown = type.fromStorage ? type.fromStorage(obj) : obj;
    return shown.apiVersion === apiVersion ? shown : { ...shown, apiVersion };
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.ctx.store.get(bucketOf(type), type.namespaced ? namespace : undefined, name);
    if (!obj) throw notFound(type, name);
    return obj;
  }

  tryGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.ctx.store.get(bucketOf(type), type.namespaced ? namespace : undefined, name);
  }

  list(type: ResourceType, namespace: string | undefined, options: ListOptions = {}): ListResult {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, type.kind);
    let items = this.ctx.store.list(bucketOf(type), type.namespaced ? namespace : undefined).filter((o) => labels(o) && fields(o));
    const resourceVersion = String(this.ctx.store.currentRv());
    if (options.continueToken) {
      const after = decodeContinue(options.continueToken);
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    if (options.limit && options.limit > 0 && items.length > options.limit) {
      const page = items.slice(0, options.limit);
      const last = page[page.length - 1];
      return {
        items: page,
        resourceVersion,
        continueToken: encodeContinue(`${last.metadata.namespace ?? ''}/${last.metadata.name}`, resourceVersion),
        remainingItemCount: items.length - page.length,
      };
    }
    return { items, resourceVersion };
  }

  create(type: ResourceType, namespace: string | undefined, body: KubeObject, options: WriteOptions = {}): KubeObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON or YAML object');
    this.checkKind(type, body);
    let obj = structuredClone(body) as KubeObject;
    decodeMeta(type, obj, options.fieldValidation, options.warn);
    if (type.toStorage) obj = type.toStorage(obj);
    const metadata = (obj.metadata ??= {});
    if (type.namespaced) {
      if (metadata.namespace && namespace && metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      metadata.namespace = namespace ?? metadata.namespace ?? 'default';
      this.requireLiveNamespace(type, metadata.namespace, metadata.name ?? metadata.generateName ?? '');
    } else delete metadata.namespace;
    if (!metadata.name && metadata.generateName) metadata.name = `${metadata.generateName}${randomSuffix()}`;
    obj.apiVersion = apiVersionOf(type);
    obj.kind = type.kind;
    metadata.uid = randomUUID();
    metadata.creationTimestamp = timestamp(this.ctx.now());
    delete metadata.deletionTimestamp;
    delete metadata.deletionGracePeriodSeconds;
    delete metadata.resourceVersion;
    if (type.generation) metadata.generation = 1;
    else delete metadata.generation;
    if (type.status) delete obj.status;
    strategyOf(type).prepareForCreate?.(obj);
    applyBuiltinDefaults(type, obj);
    // A new Pod is Pending with its QoS class, whatever status the client sent.
    if (isPod(type)) obj.status = initialPodStatus(obj);
    admit(type, obj, options);
    if (this.ctx.store.get(bucketOf(type), metadata.namespace, metadata.name)) throw alreadyExists(type, metadata.name);
    if (!options.appliedOwnership) {
      delete metadata.managedFields;
      recordUpdate(listTypesFor(type), undefined, obj, options.fieldManager ?? 'unknown', options.subresource, this.ctx.now(), type.status);
    }
    if (options.dryRun) return obj;
    return this.ctx.store.create(bucketOf(type), obj);
  }

  /**
   * Replaces an object (PUT), or its status when `subresource` says so, as the generic store's
   * Update does: a missing object is created where the kind allows it (Leases, Services, …),
   * else 404; a stale resourceVersion is a 409 Conflict; none is an unconditional update only
   * where the kind allows it (422 otherwise: Leases, PDBs, CRDs, custom resources); a `uid` other
   * than the stored one is a 409 precondition failure (the object was deleted and recreated).
   */
  update(type: ResourceType, namespace: string | undefined, name: string, body: KubeObject, options: WriteOptions = {}): { object: KubeObject; created: boolean } {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON or YAML object');
    if (body.metadata?.name !== undefined && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    const strategy = strategyOf(type);
    const old = this.tryGet(type, namespace, name);
    if (!old) {
      if (!strategy.allowCreateOnUpdate || options.subresource) throw notFound(type, name);
      const { resourceVersion: _rv, ...metadata } = body.metadata ?? {};
      return { object: this.create(type, namespace, { ...body, metadata: { ...metadata, name } }, options), created: true };
    }
    const rv = body.metadata?.resourceVersion;
    if ((rv === undefined || rv === '') && !strategy.allowUnconditionalUpdate) {
      throw invalid(type.kind, type.group, name, [{ reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(type, name);
    const uid = body.metadata?.uid;
    if (uid && uid !== old.metadata.uid) throw conflict(type, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid}`);
    this.checkKind(type, body);
    return { object: this.commit(type, old, structuredClone(body) as KubeObject, options), created: false };
  }

  /**
   * The common tail of every update: subresource masking, immutable metadata, finalizer rules,
   * admission, generation, field ownership; writes nothing when nothing changed.
   */
  commit(type: ResourceType, old: KubeObject, next: KubeObject, options: WriteOptions = {}, operation: 'Update' | 'Apply' = 'Update'): KubeObject {
    const sub = options.subresource;
    decodeMeta(type, next, options.fieldValidation, options.warn);
    if (type.toStorage) next = type.toStorage(next);
    if (sub === 'status') {
      const { status, metadata: { managedFields, annotations } = {} } = next;
      next = structuredClone(old) as KubeObject;
      if (status === undefined) delete next.status;
      else next.status = status;
      if (strategyOf(type).statusWritesAnnotations) {
        if (annotations === undefined) delete next.metadata.annotations;
        else next.metadata.annotations = annotations;
      }
      if (operation === 'Apply') next.metadata.managedFields = managedFields;
    } else if (type.status) {
      if (old.status === undefined) delete next.status;
      else next.status = structuredClone(old.status);
    }
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    const metadata = (next.metadata ??= {});
    for (const key of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (old.metadata[key] === undefined) delete metadata[key];
      else metadata[key] = old.metadata[key];
    }
    if (operation === 'Update') {
      // Ownership is the server's: what a client echoes back (often re-formatted) is ignored.
      if (old.metadata.managedFields) metadata.managedFields = structuredClone(old.metadata.managedFields);
      else delete metadata.managedFields;
    }
    metadata.resourceVersion = old.metadata.resourceVersion;
    if (old.metadata.deletionTimestamp) {
      const before = new Set<string>(old.metadata.finalizers ?? []);
      const added = (metadata.finalizers ?? []).filter((f: string) => !before.has(f));
      if (added.length > 0) {
        throw invalid(type.kind, type.group, old.metadata.name, [
          { field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f: string) => JSON.stringify(f)).join(', ')}}` },
        ]);
      }
    }
    if (metadata.finalizers?.length === 0) delete metadata.finalizers;
    const strategy = strategyOf(type);
    if (sub !== 'status') strategy.prepareForUpdate?.(next, old);
    applyBuiltinDefaults(type, next);
    admit(type, next, options, sub === 'status' ? undefined : old);
    const annotationsChanged = sub !== 'status' && strategy.annotationsInGeneration && canonicalJson(old.metadata.annotations ?? {}) !== canonicalJson(metadata.annotations ?? {});
    if (type.generation && (specPart(old) !== specPart(next) || annotationsChanged)) metadata.generation = (old.metadata.generation ?? 0) + 1;
    if (operation === 'Update') recordUpdate(listTypesFor(type), old, next, options.fieldManager ?? 'unknown', sub, this.ctx.now(), type.status);
    if (sameExceptRv(old, next)) return old;
    if (options.dryRun) return next;
    const terminatingPod = isPod(type) && (metadata.deletionGracePeriodSeconds ?? 0) > 0;
    if (metadata.deletionTimestamp && !metadata.finalizers?.length && !(type.kind === 'Namespace' && next.spec?.finalizers?.length) && !terminatingPod) {
      const removed = this.ctx.store.remove(bucketOf(type), metadata.namespace, metadata.name)!;
      this.ctx.onDeletion();
      return removed;
    }
    return this.ctx.store.update(bucketOf(type), next);
  }

  /**
   * DELETE: objects with finalizers (or a Foreground/Orphan policy) get a deletionTimestamp and
   * stay until the finalizers are gone; Pods also stay for their grace period, until the Pod
   * runner has stopped them; the rest are removed now and their dependents collected.
   */
  delete(type: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): KubeObject {
    const old = this.get(type, namespace, name);
    if (type.kind === 'Namespace' && type.group === '' && PROTECTED_NAMESPACES.has(name)) {
      throw forbidden(type, name, 'this namespace may not be deleted');
    }
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(type, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(type, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    }
    const finalizers: string[] = [...(old.metadata.finalizers ?? [])];
    if (options.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (options.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    const namespaceFinalizers = type.kind === 'Namespace' ? (old.spec?.finalizers ?? []) : [];
    // Pods terminate gracefully: they stay (Terminating) until their runner has stopped them.
    const previousGrace: number | undefined = old.metadata.deletionTimestamp ? (old.metadata.deletionGracePeriodSeconds ?? 0) : undefined;
    const requestedGrace = isPod(type) ? (options.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30) : 0;
    const grace = previousGrace === undefined ? requestedGrace : Math.min(previousGrace, requestedGrace);
    if (finalizers.length === 0 && namespaceFinalizers.length === 0 && grace === 0) {
      if (options.dryRun) return old;
      const removed = this.ctx.store.remove(bucketOf(type), old.metadata.namespace, name)!;
      this.ctx.onDeletion();
      return removed;
    }
    if (old.metadata.deletionTimestamp && finalizers.length === (old.metadata.finalizers ?? []).length && grace === previousGrace) return old;
    const next = structuredClone(old) as KubeObject;
    next.metadata.finalizers = finalizers;
    // Marking an object for deletion bumps its generation (the generic store's markAsDeleting).
    if (!old.metadata.deletionTimestamp && (old.metadata.generation ?? 0) > 0) next.metadata.generation = old.metadata.generation + 1;
    next.metadata.deletionTimestamp ??= timestamp(this.ctx.now());
    next.metadata.deletionGracePeriodSeconds = grace;
    if (type.kind === 'Namespace') next.status = { ...next.status, phase: 'Terminating' };
    if (options.dryRun) return next;
    const stored = this.ctx.store.update(bucketOf(type), next);
    this.ctx.onDeletion();
    return stored;
  }

  private checkKind(type: ResourceType, body: KubeObject): void {
    const expected = apiVersionOf(type);
    if (body.apiVersion !== undefined && body.apiVersion !== expected && !this.sameGroup(type, body.apiVersion)) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${expected})`);
    }
    if (body.kind !== undefined && body.kind !== type.kind) {
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${type.kind})`);
    }
  }

  private sameGroup(type: ResourceType, apiVersion: string): boolean {
    return type.group !== '' && apiVersion.startsWith(`${type.group}/`) && !!this.ctx.registry.find(type.group, apiVersion.split('/')[1], type.plural);
  }

  private requireLiveNamespace(type: ResourceType, namespace: string, name: string): void {
    const ns = this.ctx.store.get('/namespaces', undefined, namespace);
    if (!ns) throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(type, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }
}

function encodeContinue(after: string, rv: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: after })).toString('base64url');
}

function decodeContinue(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { start?: unknown };
    if (typeof parsed.start === 'string') return parsed.start;
  } catch (error) {
    throw badRequest(`continue key is not valid: ${(error as Error).message}`);
  }
  throw badRequest('continue key is not valid: missing start');
}
