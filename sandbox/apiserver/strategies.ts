/**
 * Per-kind rules of kube-apiserver's registry strategies (pkg/registry/<group>/<kind>/strategy.go
 * and the generic store): whether a PUT may create (AllowCreateOnUpdate) or omit the
 * resourceVersion (AllowUnconditionalUpdate), whether DELETE answers with the object
 * (ReturnDeletedObject) or a Status, what is normalised before storing (PrepareForCreate/Update),
 * what generation counts, and the update-only validation (ValidateUpdate).
 */
import type { StatusCause } from './errors.ts';
import type { KubeObject, ResourceType } from './registry.ts';

export interface Strategy {
  allowCreateOnUpdate: boolean;
  allowUnconditionalUpdate: boolean;
  /** DELETE that removes the object answers with it; otherwise with a Status. */
  returnsDeletedObject: boolean;
  /** Annotations count for generation too (Deployments copy them to ReplicaSets). */
  annotationsInGeneration?: boolean;
  /**
   * A /status write may change annotations too (deploymentStatusStrategy resets only spec and
   * labels): the Deployment controller records its revision annotation that way, so the
   * annotation does not count toward generation.
   */
  statusWritesAnnotations?: boolean;
  /** Normalises a new object before admission. */
  prepareForCreate?(obj: KubeObject): void;
  /** Normalises an update before admission (`old` is the stored object). */
  prepareForUpdate?(obj: KubeObject, old: KubeObject): void;
  /** Causes that only an update can have (immutable fields). */
  validateUpdate?(obj: KubeObject, old: KubeObject): StatusCause[];
}

const DEFAULT: Strategy = { allowCreateOnUpdate: false, allowUnconditionalUpdate: true, returnsDeletedObject: false };
/** Custom resources (apiextensions-apiserver's customResourceStrategy). */
const CUSTOM_RESOURCE: Strategy = { allowCreateOnUpdate: false, allowUnconditionalUpdate: false, returnsDeletedObject: false };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** How apimachinery prints a []string in field errors. */
const goStrings = (list: string[]) => `[]string{${list.map((s) => JSON.stringify(s)).join(', ')}}`;

function immutableCause(field: string, value: unknown): StatusCause {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: field is immutable` };
}

/** ConfigMaps and Secrets marked `immutable: true` keep their data and the mark. */
function immutableData(dataFields: string[]) {
  return (obj: KubeObject, old: KubeObject): StatusCause[] => {
    if (old.immutable !== true) return [];
    const causes: StatusCause[] = [];
    if (obj.immutable !== true) causes.push({ reason: 'FieldValueForbidden', field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' });
    for (const field of dataFields) {
      if (!same(obj[field] ?? {}, old[field] ?? {})) causes.push({ reason: 'FieldValueForbidden', field, message: 'Forbidden: field is immutable when `immutable` is set' });
    }
    return causes;
  };
}

/** Secret.stringData is write-only: merged into data (base64), never stored or returned. */
function mergeStringData(obj: KubeObject): void {
  if (obj.stringData && typeof obj.stringData === 'object') {
    const data: Record<string, string> = { ...(obj.data ?? {}) };
    for (const [key, value] of Object.entries(obj.stringData as Record<string, unknown>)) data[key] = Buffer.from(String(value), 'utf8').toString('base64');
    obj.data = data;
  }
  delete obj.stringData;
}

/** The fields of a Pod spec an update may change (ValidatePodUpdate). */
function podSpecWithoutMutable(spec: KubeObject | undefined): KubeObject {
  const copy = structuredClone(spec ?? {}) as KubeObject;
  for (const list of ['containers', 'initContainers']) for (const c of (copy[list] ?? []) as KubeObject[]) delete c.image;
  delete copy.activeDeadlineSeconds;
  delete copy.tolerations;
  delete copy.terminationGracePeriodSeconds;
  return copy;
}

const POD_UPDATE_FORBIDDEN =
  'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

const STRATEGIES: Record<string, Strategy> = {
  '/Namespace': {
    ...DEFAULT,
    returnsDeletedObject: true,
    // The namespace controller's label, set on every write (NamespaceStrategy).
    prepareForCreate: (obj) => {
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
    },
    prepareForUpdate: (obj) => {
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
    },
  },
  '/ConfigMap': { ...DEFAULT, validateUpdate: immutableData(['data', 'binaryData']) },
  '/Secret': {
    ...DEFAULT,
    prepareForCreate: mergeStringData,
    prepareForUpdate: mergeStringData,
    validateUpdate: (obj, old) => {
      const causes = immutableData(['data'])(obj, old);
      if ((obj.type ?? 'Opaque') !== (old.type ?? 'Opaque')) causes.push(immutableCause('type', obj.type));
      return causes;
    },
  },
  '/Service': {
    ...DEFAULT,
    allowCreateOnUpdate: true,
    returnsDeletedObject: true,
    // An update that leaves the allocated IP out keeps it (patchAllocatedValues).
    prepareForUpdate: (obj, old) => {
      obj.spec ??= {};
      if (obj.spec.clusterIP === undefined && old.spec?.clusterIP !== undefined) obj.spec.clusterIP = old.spec.clusterIP;
      if (obj.spec.clusterIPs === undefined && old.spec?.clusterIPs !== undefined) obj.spec.clusterIPs = old.spec.clusterIPs;
    },
    validateUpdate: (obj, old) => {
      const before: string[] = old.spec?.clusterIPs ?? (old.spec?.clusterIP ? [old.spec.clusterIP] : []);
      const after: string[] = obj.spec?.clusterIPs ?? (obj.spec?.clusterIP ? [obj.spec.clusterIP] : []);
      if (before.length > 0 && before[0] !== 'None' && after[0] !== before[0]) {
        return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: ${goStrings(after)}: may not change once set` }];
      }
      return [];
    },
  },
  '/ServiceAccount': { ...DEFAULT, allowCreateOnUpdate: true, returnsDeletedObject: true },
  '/Pod': {
    ...DEFAULT,
    returnsDeletedObject: true,
    validateUpdate: (obj, old) => (same(podSpecWithoutMutable(obj.spec), podSpecWithoutMutable(old.spec)) ? [] : [{ reason: 'FieldValueForbidden', field: 'spec', message: POD_UPDATE_FORBIDDEN }]),
  },
  '/Event': { ...DEFAULT, allowCreateOnUpdate: true },
  'events.k8s.io/Event': { ...DEFAULT, allowCreateOnUpdate: true },
  'apps/Deployment': { ...DEFAULT, annotationsInGeneration: true, statusWritesAnnotations: true, validateUpdate: selectorImmutable },
  'apps/ReplicaSet': { ...DEFAULT, validateUpdate: selectorImmutable },
  'policy/PodDisruptionBudget': { ...DEFAULT, allowUnconditionalUpdate: false },
  'coordination.k8s.io/Lease': { ...DEFAULT, allowCreateOnUpdate: true, allowUnconditionalUpdate: false },
  'apiextensions.k8s.io/CustomResourceDefinition': { ...DEFAULT, allowUnconditionalUpdate: false, returnsDeletedObject: true },
};

/** apps/v1 selectors cannot change after creation. */
function selectorImmutable(obj: KubeObject, old: KubeObject): StatusCause[] {
  return same(obj.spec?.selector, old.spec?.selector) ? [] : [immutableCause('spec.selector', obj.spec?.selector ?? null)];
}

export function strategyOf(type: ResourceType): Strategy {
  if (type.schema) return CUSTOM_RESOURCE;
  return STRATEGIES[`${type.group}/${type.kind}`] ?? DEFAULT;
}
