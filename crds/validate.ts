/**
 * Rules of a RealtimeCluster that the OpenAPI schema cannot express. Some are also CEL rules in
 * the CRD (which real clusters and the sandbox emulator enforce at write time); this repeats them
 * for objects stored before a rule existed, and adds those CEL cannot express. A pure function: the operator calls
 * it before reconciling and reports the problems in status and Events; nothing is applied
 * while any problem remains.
 *
 * Each problem names the field (`spec.regions[1].namespace`) and carries a reason in the words
 * kube-apiserver uses for field errors.
 */
import { DEFAULTS, DNS1123_LABEL } from './schema.ts';
import type { RealtimeClusterSpec, RegionSpec, SecretKeyRef } from './types.ts';

export const FIELD_REASONS = {
  invalid: 'FieldValueInvalid',
  required: 'FieldValueRequired',
  duplicate: 'FieldValueDuplicate',
  forbidden: 'FieldValueForbidden',
  tooLong: 'FieldValueTooLong',
  tooMany: 'FieldValueTooMany',
  notSupported: 'FieldValueNotSupported',
} as const;

export interface FieldProblem {
  field: string;
  message: string;
  reason: (typeof FIELD_REASONS)[keyof typeof FIELD_REASONS];
}

/** The CLUSTER_LABEL value `<namespace>.<name>` (operator/types.ts) must fit a label value. */
export const MAX_LABEL_VALUE_LENGTH = 63;
const REMOTE_AI_PROVIDERS = new Set(['openai', 'gemini']);

export interface RealtimeClusterLike {
  metadata?: { name?: string; namespace?: string };
  spec: RealtimeClusterSpec;
}

export function validateRealtimeCluster(obj: RealtimeClusterLike): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (field: string, reason: FieldProblem['reason'], message: string) => problems.push({ field, message, reason });
  checkName(obj.metadata ?? {}, add);
  const spec = obj.spec;
  checkGateway(spec, add);
  checkReplicas(spec, add);
  checkRegions(spec, add);
  checkAi(spec, add);
  return problems;
}

type Add = (field: string, reason: FieldProblem['reason'], message: string) => void;

function checkName(metadata: { name?: string; namespace?: string }, add: Add): void {
  const { name, namespace } = metadata;
  if (!name) return; // generateName: the API server assigns a name the operator checks on its next read
  if (!new RegExp(DNS1123_LABEL).test(name)) {
    add('metadata.name', FIELD_REASONS.invalid, `'${name}' must be a DNS-1123 label (lower-case letters, digits and '-'), as region objects are named after it`);
  }
  const labelValue = `${namespace ?? 'default'}.${name}`;
  if (labelValue.length > MAX_LABEL_VALUE_LENGTH) {
    add(
      'metadata.name',
      FIELD_REASONS.tooLong,
      `namespace and name together are ${labelValue.length} characters; '<namespace>.<name>' labels every regional object and must be at most ${MAX_LABEL_VALUE_LENGTH}`,
    );
  }
}

function checkGateway(spec: RealtimeClusterSpec, add: Add): void {
  const auth = spec.gateway.auth;
  if (!auth?.jwtSecretRef && !auth?.jwksUrl) {
    add('spec.gateway.auth', FIELD_REASONS.required, 'set jwtSecretRef (HS256) or jwksUrl (RS256/ES256): clients cannot be authenticated otherwise');
  }
  const target = spec.autoscaling?.targetConnectionsPerPod ?? DEFAULTS.targetConnectionsPerPod;
  const perPod = spec.gateway.maxConnectionsPerPod ?? DEFAULTS.maxConnectionsPerPod;
  if (target > perPod) {
    add('spec.autoscaling.targetConnectionsPerPod', FIELD_REASONS.invalid, `${target} exceeds gateway.maxConnectionsPerPod (${perPod}): pods would refuse connections before the autoscaler reacts`);
  }
}

function checkReplicas(spec: RealtimeClusterSpec, add: Add): void {
  const min = spec.autoscaling?.minReplicas ?? DEFAULTS.minReplicas;
  const max = spec.autoscaling?.maxReplicas ?? DEFAULTS.maxReplicas;
  if (min > max) add('spec.autoscaling.minReplicas', FIELD_REASONS.invalid, `minReplicas ${min} exceeds maxReplicas ${max}`);
  spec.regions.forEach((region, index) => {
    const { min: regionMin, max: regionMax } = regionBounds(spec, region);
    if ((region.minReplicas !== undefined || region.maxReplicas !== undefined) && regionMin > regionMax) {
      const field = region.minReplicas !== undefined ? 'minReplicas' : 'maxReplicas';
      add(`spec.regions[${index}].${field}`, FIELD_REASONS.invalid, `region '${region.name}' would have minReplicas ${regionMin} above maxReplicas ${regionMax}`);
    }
  });
}

/** A region's effective replica bounds: its own, else the cluster's, else the defaults. */
export function regionBounds(spec: RealtimeClusterSpec, region: RegionSpec): { min: number; max: number } {
  return {
    min: region.minReplicas ?? spec.autoscaling?.minReplicas ?? DEFAULTS.minReplicas,
    max: region.maxReplicas ?? spec.autoscaling?.maxReplicas ?? DEFAULTS.maxReplicas,
  };
}

function clusterOf(ref: SecretKeyRef | undefined): string {
  return ref ? `secret ${ref.name}/${ref.key}` : "the operator's own cluster";
}

function checkRegions(spec: RealtimeClusterSpec, add: Add): void {
  const names = new Map<string, number>();
  const placements = new Map<string, number>();
  spec.regions.forEach((region, index) => {
    const seen = names.get(region.name);
    if (seen !== undefined) {
      add(`spec.regions[${index}].name`, FIELD_REASONS.duplicate, `region '${region.name}' is already spec.regions[${seen}]`);
    } else {
      names.set(region.name, index);
    }
    const namespace = region.namespace ?? DEFAULTS.regionNamespace;
    const placement = `${clusterOf(region.kubeconfigSecretRef)}\u0000${namespace}`;
    const sharing = placements.get(placement);
    if (sharing !== undefined && seen === undefined) {
      add(
        `spec.regions[${index}].namespace`,
        FIELD_REASONS.duplicate,
        `namespace '${namespace}' in ${clusterOf(region.kubeconfigSecretRef)} is already used by region '${spec.regions[sharing].name}': their objects would overwrite each other`,
      );
    } else if (sharing === undefined) {
      placements.set(placement, index);
    }
    const { max } = regionBounds(spec, region);
    if (!region.redis && max > 1) {
      add(
        `spec.regions[${index}].redis`,
        FIELD_REASONS.required,
        `region '${region.name}' may run ${max} pods: without Redis each pod would only see its own clients' messages (or set maxReplicas: 1)`,
      );
    }
  });
}

function checkAi(spec: RealtimeClusterSpec, add: Add): void {
  const ai = spec.ai;
  if (!ai?.providers) return;
  const strategy = ai.strategy ?? DEFAULTS.aiStrategy;
  const names = new Set<string>();
  ai.providers.forEach((provider, index) => {
    const at = `spec.ai.providers[${index}]`;
    if (names.has(provider.name)) add(`${at}.name`, FIELD_REASONS.duplicate, `provider '${provider.name}' is listed twice`);
    names.add(provider.name);
    if (REMOTE_AI_PROVIDERS.has(provider.name)) {
      if (!provider.apiKeySecretRef) add(`${at}.apiKeySecretRef`, FIELD_REASONS.required, `${provider.name} needs an API key`);
      if (!provider.model) add(`${at}.model`, FIELD_REASONS.required, `${provider.name} needs a model name`);
      if (strategy === 'cost') {
        for (const price of ['inputUsdPer1M', 'outputUsdPer1M'] as const) {
          if (provider[price] === undefined) add(`${at}.${price}`, FIELD_REASONS.required, `strategy 'cost' compares prices: ${provider.name} needs ${price}`);
        }
      }
    } else {
      if (provider.apiKeySecretRef) add(`${at}.apiKeySecretRef`, FIELD_REASONS.forbidden, 'the local provider runs in the gateway and takes no API key');
      if (provider.baseUrl) add(`${at}.baseUrl`, FIELD_REASONS.forbidden, 'the local provider runs in the gateway and has no endpoint');
    }
  });
}
