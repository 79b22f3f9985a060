/**
 * Reading hub Secrets, for both the region pool (kubeconfigs) and the reconciler (gateway
 * credentials). Only `data` (base64) is read: an API server merges `stringData` into `data` on
 * write and never returns it.
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { KubeClient } from './kube/client.ts';
import { isNotFound } from './errors.ts';

/** Reads a hub Secret; undefined when it does not exist. The controller passes its informer cache. */
export type ReadSecret = (namespace: string, name: string) => Promise<V1Secret | undefined>;

/** A ReadSecret that GETs from the hub, for callers without a cache (tests, one-off tools). */
export function readSecretFromApi(hub: KubeClient): ReadSecret {
  return async (namespace, name) => {
    try {
      return await hub.read<V1Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace } });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
}

/** The base64 value of `key`, as stored; undefined when the Secret has no such key. */
export function secretValue(secret: V1Secret, key: string): string | undefined {
  return secret.data?.[key];
}

/** The decoded (UTF-8) value of `key`; undefined when the Secret has no such key. */
export function secretText(secret: V1Secret, key: string): string | undefined {
  const value = secretValue(secret, key);
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}
