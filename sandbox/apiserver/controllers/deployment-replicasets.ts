/**
 * How a Deployment names, builds and recognises its ReplicaSets, as upstream does: the
 * `pod-template-hash` (an FNV-1a hash of the Pod template, with the collision count, spelled in
 * the safe alphabet), the `<deployment>-<hash>` name, the selector and labels with the hash, the
 * revision annotations, and template equality that ignores the hash label.
 */
import { canonicalJson } from '../canonical.ts';
import type { KubeObject } from '../registry.ts';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';

/** Deployment annotations that stay on the Deployment (the rest are copied to its ReplicaSets). */
const NOT_COPIED = new Set(['kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS]);

/** Consonants and digits only, so a hash never spells a word (upstream's SafeEncodeString alphabet). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function podTemplateHash(template: KubeObject | undefined, collisionCount?: number): string {
  const input = canonicalJson(template ?? {}) + (collisionCount === undefined ? '' : String(collisionCount));
  return [...String(fnv1a32(input))].map((c) => SAFE_ALPHABET[c.charCodeAt(0) % SAFE_ALPHABET.length]).join('');
}

function withoutHash(template: KubeObject | undefined): string {
  const copy = structuredClone(template ?? {}) as KubeObject;
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  return canonicalJson(copy);
}

/** The ReplicaSet runs the Deployment's current template (the hash label aside). */
export function runsTemplateOf(rs: KubeObject, deployment: KubeObject): boolean {
  return withoutHash(rs.spec?.template) === withoutHash(deployment.spec?.template);
}

export function revisionOf(obj: KubeObject): number {
  const value = Number(obj.metadata?.annotations?.[REVISION] ?? 0);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

export function replicaSetAnnotations(deployment: KubeObject, revision: number, maxReplicas: number): Record<string, string> {
  const copied = Object.entries((deployment.metadata.annotations ?? {}) as Record<string, string>).filter(([k]) => !NOT_COPIED.has(k));
  return {
    ...Object.fromEntries(copied),
    [REVISION]: String(revision),
    [DESIRED_REPLICAS]: String(deployment.spec?.replicas ?? 1),
    [MAX_REPLICAS]: String(maxReplicas),
  };
}

/** The new ReplicaSet for the Deployment's current template, owned by it. */
export function newReplicaSet(deployment: KubeObject, replicas: number, revision: number, maxReplicas: number): KubeObject {
  const hash = podTemplateHash(deployment.spec.template, deployment.status?.collisionCount);
  const template = structuredClone(deployment.spec.template ?? {}) as KubeObject;
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH]: hash } };
  const selector = structuredClone(deployment.spec.selector ?? {}) as KubeObject;
  selector.matchLabels = { ...selector.matchLabels, [POD_TEMPLATE_HASH]: hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${deployment.metadata.name}-${hash}`,
      namespace: deployment.metadata.namespace,
      labels: template.metadata.labels,
      annotations: replicaSetAnnotations(deployment, revision, maxReplicas),
      ownerReferences: [controllerReference(deployment)],
    },
    spec: { replicas, minReadySeconds: deployment.spec.minReadySeconds ?? 0, selector, template },
  };
}

export function controllerReference(owner: KubeObject): KubeObject {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}
