/**
 * Server-side apply of rendered objects into one region, with one field manager, skipping every
 * object whose live state already holds what we render. A resync that changes nothing therefore
 * makes no writes, while drift in any field we own (an edited image, a deleted object) is repaired.
 * Live state comes from the region's cache when it has one (no request at all), else a GET.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from '../errors.ts';
import { CLUSTER_LABEL, FIELD_MANAGER, type RegionClient } from '../types.ts';
import { ReconcileError, ReconcileErrorReason } from './errors.ts';
import { sameQuantity } from '../../lib/quantity.ts';
import { APPLIED_HASH_ANNOTATION, CREATED_BY_ANNOTATION } from './render.ts';

/** How long one call to a region may take before the region counts as not answering. */
export const DEFAULT_REGION_CALL_TIMEOUT_MS = 10_000;

/**
 * Runs one API call against a region, bounded by `timeoutMs` (the call is aborted through
 * `signal` when the time is up); its outcome feeds the region's health (RegionClient.call).
 */
export function callRegion<T>(client: RegionClient, call: (signal: AbortSignal) => Promise<T>, timeoutMs = DEFAULT_REGION_CALL_TIMEOUT_MS): Promise<T> {
  return client.call(call, timeoutMs);
}

export function describeObject(object: KubernetesObject): string {
  return `${object.kind}/${object.metadata?.name}`;
}

/**
 * An object's current state from the region's cache, or from a GET when the cache cannot answer.
 * A Namespace the cache does not hold is read live: one the operator did not create carries no
 * managed-by label, and must still be seen to be left alone.
 */
export async function readCurrent(client: RegionClient, object: KubernetesObject, timeoutMs?: number): Promise<KubernetesObject | undefined> {
  const ref = { apiVersion: object.apiVersion ?? '', kind: object.kind ?? '', namespace: object.metadata?.namespace, name: object.metadata?.name ?? '' };
  const cached = client.cached(ref);
  if (cached && (cached.object || object.kind !== 'Namespace')) return cached.object;
  return readLive(client, object, timeoutMs);
}

/** Reads an object's live state (a GET), or undefined when it does not exist. */
export async function readLive(client: RegionClient, object: KubernetesObject, timeoutMs?: number): Promise<KubernetesObject | undefined> {
  const header = {
    apiVersion: object.apiVersion ?? '',
    kind: object.kind ?? '',
    metadata: { name: object.metadata?.name ?? '', ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}) },
  };
  try {
    return await callRegion(client, (signal) => client.kube.read(header, { signal }), timeoutMs);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Fields holding resource quantities, compared by amount ("0.5" and "500m" are the same). */
const QUANTITY_PARENTS = new Set(['requests', 'limits']);
const QUANTITY_FIELDS = new Set(['sizeLimit']);

/**
 * True when every field of `desired` has the same value in `live`. Fields only `live` has
 * (defaults, status, other managers' fields) are ignored; lists must match element by element.
 */
export function holds(live: unknown, desired: unknown, key = '', parent = ''): boolean {
  if (desired === undefined || desired === null) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((item, i) => holds(live[i], item));
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    const liveRecord = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([field, value]) => holds(liveRecord[field], value, field, key));
  }
  if (live === desired) return true;
  const isQuantity = QUANTITY_FIELDS.has(key) || QUANTITY_PARENTS.has(parent);
  return isQuantity && typeof live === 'string' && typeof desired === 'string' && sameQuantity(live, desired);
}

/** Whether applying `desired` would change nothing we own: same rendering (hash) and every rendered field in place. */
export function upToDate(live: KubernetesObject, desired: KubernetesObject): boolean {
  const liveHash = live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
  const desiredHash = desired.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
  return liveHash !== undefined && liveHash === desiredHash && holds(live, desired);
}

export interface ApplyOutcome {
  /** "Kind/name" of each object written. */
  written: string[];
  /** "Kind/name" of each object left alone because someone else owns it (a Namespace we did not create). */
  skippedForeign: string[];
  /** The live state of each object as read before applying ("Kind/name" → object, absent when it did not exist). */
  live: Map<string, KubernetesObject | undefined>;
}

/**
 * Applies the objects in waves (applyWaves): the Namespace, then the objects the Deployment needs
 * and the rest at once, then the Deployment. A live object of ours carrying another cluster's label is never
 * overwritten (ObjectOwnedByOtherCluster), and then nothing is written. A Namespace is written
 * only if absent or created by us. `beforeFirstWrite` runs once, only if something is to be written.
 * All objects are read first (from the cache when the region has
 * one, else in parallel): a no-op reconcile costs no request with a cache, one round trip without.
 */
export async function applyObjects(client: RegionClient, objects: readonly KubernetesObject[], owner: string, timeoutMs?: number, beforeFirstWrite?: () => Promise<void>): Promise<ApplyOutcome> {
  const lives = await Promise.all(objects.map((object) => readCurrent(client, object, timeoutMs)));
  const outcome: ApplyOutcome = { written: [], skippedForeign: [], live: new Map(objects.map((o, i) => [describeObject(o), lives[i]])) };
  const toApply: KubernetesObject[] = [];
  objects.forEach((desired, i) => {
    const live = lives[i];
    if (!live) {
      toApply.push(desired);
      return;
    }
    if (desired.kind === 'Namespace' && live.metadata?.annotations?.[CREATED_BY_ANNOTATION] !== owner) {
      outcome.skippedForeign.push(describeObject(desired));
      return;
    }
    const liveOwner = live.metadata?.labels?.[CLUSTER_LABEL];
    if (liveOwner !== undefined && liveOwner !== owner) {
      throw new ReconcileError(
        ReconcileErrorReason.ObjectOwnedByOtherCluster,
        `${describeObject(desired)} in region ${client.region} belongs to RealtimeCluster ${liveOwner}; rename this cluster or remove that object`,
      );
    }
    if (!upToDate(live, desired)) toApply.push(desired);
  });
  // The placements record names this region before anything is written there.
  if (toApply.length > 0) await beforeFirstWrite?.();
  for (const wave of applyWaves(toApply)) {
    // One wave's objects are independent of each other: written at once, one round trip per wave.
    const results = await Promise.allSettled(
      wave.map(async (desired) => {
        const written = await callRegion(client, (signal) => client.kube.apply(desired, { fieldManager: FIELD_MANAGER, force: true, signal }), timeoutMs);
        client.wrote(written);
      }),
    );
    // What was written stays written (and is reported, in rendering order); the first failure stops later waves.
    wave.forEach((desired, i) => {
      if (results[i].status === 'fulfilled') outcome.written.push(describeObject(desired));
    });
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
  return outcome;
}

/**
 * The order writes must keep: the Namespace before anything that lives in it, and what the
 * gateway's pods mount or run as (ConfigMap, Secret, ServiceAccount) before the Deployment that
 * starts them. Within a wave the order does not matter.
 */
const WAVE_OF_KIND: Readonly<Record<string, number>> = Object.freeze({ Namespace: 0, Deployment: 2 });
const MIDDLE_WAVE = 1;

/** Splits objects into waves, in order; each wave's objects may be written concurrently. */
export function applyWaves(objects: readonly KubernetesObject[]): KubernetesObject[][] {
  const waves: KubernetesObject[][] = [];
  for (const object of objects) (waves[WAVE_OF_KIND[object.kind ?? ''] ?? MIDDLE_WAVE] ??= []).push(object);
  return waves.filter((wave) => wave !== undefined);
}
