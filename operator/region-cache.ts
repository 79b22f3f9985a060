/**
 * A region's cache of the objects the operator manages there: one informer per kind it
 * applies, selected by MANAGED_BY_LABEL, holding whole objects (without managedFields). The
 * reconciler reads live state from here, as controller-runtime's cached client does, so a
 * resync that finds everything in place reads nothing from the region.
 *
 * - A kind whose informer has not synced yet (a region just added, or unreachable) is not
 *   answered: the reader falls back to a live read, which also feeds the region's health.
 * - A write's answer is kept until the informer has seen that version or a later one
 *   (client-go's mutation cache): the reconcile that runs right after a write, before its watch
 *   event arrives, sees what was written and does not write it again.
 * - Every change is reported to `onChange` (the controller enqueues the owning cluster).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './kube/client.ts';
import { objectKey, withoutManagedFields, type Informer, type InformerOptions, type ResourceRef } from './informer.ts';
import { FIELD_MANAGER, MANAGED_BY_LABEL, type ObjectRef } from './types.ts';

/** The kinds the reconciler applies in a region (operator/reconcile/render.ts), each cached. */
export const MANAGED_RESOURCES: readonly ResourceRef[] = Object.freeze([
  { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
]);

/**
 * Also cached, never applied: the gateway Pods (labelled by the Deployment's template), which
 * the autoscaler lists every load period and annotates before a scale-down.
 */
export const POD_RESOURCE: ResourceRef = Object.freeze({ apiVersion: 'v1', kind: 'Pod', plural: 'pods' });

/**
 * What the cache keeps of a Pod: what the autoscaler reads (operator/autoscale/pods.ts) —
 * metadata without managedFields, phase, IP and condition states. A gateway Pod's spec and
 * container statuses are most of its bytes and nothing here reads them.
 */
export function podSummary(object: KubernetesObject): KubernetesObject {
  const { metadata } = withoutManagedFields(object);
  const status = (object as { status?: { phase?: string; podIP?: string; conditions?: Array<{ type?: string; status?: string }> } }).status;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata,
    status: { phase: status?.phase, podIP: status?.podIP, conditions: status?.conditions?.map(({ type, status: state }) => ({ type, status: state })) },
  } as KubernetesObject;
}

/**
 * What the cache keeps of a managed object: all of it but managedFields (the applier compares
 * every rendered field), and status only for the Deployment, the one kind whose status is read
 * (operator/reconcile/status.ts observeDeployment).
 */
export function managedObjectSummary(object: KubernetesObject): KubernetesObject {
  const kept = withoutManagedFields(object);
  if (object.kind === 'Deployment' || !('status' in kept)) return kept;
  const { status: _dropped, ...rest } = kept as KubernetesObject & { status?: unknown };
  return rest;
}

/** Every kind a region's cache holds. */
export const CACHED_RESOURCES: readonly ResourceRef[] = Object.freeze([...MANAGED_RESOURCES, POD_RESOURCE]);

export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${FIELD_MANAGER}`;

/** Builds an informer with the runtime's options and metrics (the controller supplies it). */
export type InformerFactory = (name: string, client: KubeClient, resource: ResourceRef, extra: Partial<InformerOptions>) => Informer;

export interface RegionCacheOptions {
  region: string;
  kube: KubeClient;
  makeInformer: InformerFactory;
  resources?: readonly ResourceRef[];
  /** A list or watch failed: the region counts it like a failed call. */
  onError(error: unknown): void;
  onChange(object: KubernetesObject): void;
}

function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

/** True when version `a` is newer than `b`. Versions are opaque; when they are not integers, trust the informer. */
function newer(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

export class RegionCache {
  readonly #informers = new Map<string, Informer>();
  readonly #written = new Map<string, KubernetesObject>();

  constructor(options: RegionCacheOptions) {
    for (const resource of options.resources ?? CACHED_RESOURCES) {
      const informer = options.makeInformer(`${options.region}/${resource.plural}`, options.kube, resource, {
        labelSelector: MANAGED_SELECTOR,
        onError: options.onError,
        transform: resource.kind === POD_RESOURCE.kind ? podSummary : managedObjectSummary,
      });
      const seen = (object: KubernetesObject) => {
        this.#forgetWrite(resource, object);
        options.onChange(object);
      };
      informer.on({ add: seen, update: (_, object) => seen(object), delete: seen });
      this.#informers.set(kindKey(resource.apiVersion, resource.kind), informer);
    }
  }

  get kinds(): number {
    return this.#informers.size;
  }

  start(): void {
    for (const informer of this.#informers.values()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((informer) => informer.stop()));
  }

  /** The cached object (undefined when absent), or undefined overall when this kind cannot be answered from the cache. */
  get(ref: ObjectRef): { object: KubernetesObject | undefined } | undefined {
    const key = kindKey(ref.apiVersion, ref.kind);
    const informer = this.#informers.get(key);
    if (!informer?.synced) return undefined;
    const name = ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
    const cached = informer.get(name);
    const written = this.#written.get(`${key}/${name}`);
    if (written && newer(written.metadata?.resourceVersion, cached?.metadata?.resourceVersion)) return { object: written };
    if (written) this.#written.delete(`${key}/${name}`);
    return { object: cached };
  }

  /**
   * The cached objects of a kind in `namespace` whose labels include `labels`, or undefined when
   * this kind cannot be answered from the cache (not cached, not synced). Kept writes are not
   * merged in: callers that list (the autoscaler) read each period and tolerate a moment's lag.
   */
  list(ref: { apiVersion: string; kind: string; namespace: string }, labels: Record<string, string>): KubernetesObject[] | undefined {
    const informer = this.#informers.get(kindKey(ref.apiVersion, ref.kind));
    if (!informer?.synced) return undefined;
    return informer.list().filter((object) => object.metadata?.namespace === ref.namespace && Object.entries(labels).every(([key, value]) => object.metadata?.labels?.[key] === value));
  }

  /** Drops a kept write once the informer has this version or a later one (or the object is gone). */
  #forgetWrite(resource: ResourceRef, object: KubernetesObject): void {
    const key = `${kindKey(resource.apiVersion, resource.kind)}/${objectKey(object)}`;
    const written = this.#written.get(key);
    if (written && !newer(written.metadata?.resourceVersion, object.metadata?.resourceVersion)) this.#written.delete(key);
  }

  wrote(object: KubernetesObject): void {
    const key = kindKey(object.apiVersion ?? '', object.kind ?? '');
    if (!this.#informers.has(key) || !object.metadata?.resourceVersion) return;
    const { managedFields: _dropped, ...metadata } = object.metadata;
    this.#written.set(`${key}/${objectKey(object)}`, { ...object, metadata });
  }
}
