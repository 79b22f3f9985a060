/**
 * A container's environment, resolved as a kubelet resolves it before it creates the container:
 * `envFrom` sources first (ConfigMaps and Secrets, each key with the source's `prefix`; keys that
 * are not valid variable names are skipped), then `env` in order, where a later entry wins and
 * `$(NAME)` expands to a variable defined before it (`$$` is a literal `$`). References are
 * `valueFrom.configMapKeyRef`, `secretKeyRef` (both with `optional`), `fieldRef` and
 * `resourceFieldRef`. A required ConfigMap, Secret or key that does not exist is a
 * ContainerConfigError, which keeps the container waiting with reason CreateContainerConfigError
 * and the kubelet's message until it appears.
 */
import { quantityValue } from '../../../lib/quantity.ts';
import type { KubeObject } from '../registry.ts';
import type { PodHost } from './pods.ts';

/** Why a container cannot be created yet; `reason` is its waiting reason. */
export class ContainerConfigError extends Error {
  readonly reason: string;

  constructor(message: string, reason = 'CreateContainerConfigError') {
    super(message);
    this.reason = reason;
  }
}

/** What fieldRef may read besides the Pod object: the addresses the runner gave it. */
export interface PodAddresses {
  podIP: string;
  hostIP: string;
}

/** A C identifier-like name, as the kubelet requires of envFrom keys (after the prefix). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function resolveEnv(pod: KubeObject, container: KubeObject, host: PodHost, addresses: PodAddresses): Record<string, string> {
  const namespace: string = pod.metadata.namespace;
  const env: Record<string, string> = {};
  for (const source of (container.envFrom ?? []) as KubeObject[]) {
    const prefix: string = source.prefix ?? '';
    const values = source.configMapRef
      ? configMapData(host, namespace, source.configMapRef.name, source.configMapRef.optional === true)
      : source.secretRef
        ? secretData(host, namespace, source.secretRef.name, source.secretRef.optional === true)
        : undefined;
    for (const [key, value] of Object.entries(values ?? {})) {
      if (ENV_NAME.test(prefix + key)) env[prefix + key] = value;
    }
  }
  for (const variable of (container.env ?? []) as KubeObject[]) {
    const value = variable.valueFrom ? valueFrom(variable.name, variable.valueFrom, pod, container, host, addresses) : expand(String(variable.value ?? ''), env);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** `$(NAME)` → the value defined so far (left as written when undefined); `$$(NAME)` → `$(NAME)`. */
export function expand(text: string, defined: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in defined ? defined[name] : match;
  });
}

function valueFrom(name: string, from: KubeObject, pod: KubeObject, container: KubeObject, host: PodHost, addresses: PodAddresses): string | undefined {
  const namespace: string = pod.metadata.namespace;
  if (from.configMapKeyRef) {
    const { name: source, key, optional } = from.configMapKeyRef;
    const data = configMapData(host, namespace, source, optional === true);
    if (!data) return undefined;
    if (!(key in data)) {
      if (optional === true) return undefined;
      throw new ContainerConfigError(`couldn't find key ${key} in ConfigMap ${namespace}/${source}`);
    }
    return data[key];
  }
  if (from.secretKeyRef) {
    const { name: source, key, optional } = from.secretKeyRef;
    const data = secretData(host, namespace, source, optional === true);
    if (!data) return undefined;
    if (!(key in data)) {
      if (optional === true) return undefined;
      throw new ContainerConfigError(`couldn't find key ${key} in Secret ${namespace}/${source}`);
    }
    return data[key];
  }
  if (from.fieldRef) return fieldValue(String(from.fieldRef.fieldPath), pod, addresses);
  if (from.resourceFieldRef) return resourceValue(name, from.resourceFieldRef, container);
  throw new ContainerConfigError(`env ${name}: valueFrom names no source`);
}

function configMapData(host: PodHost, namespace: string, name: string, optional: boolean): Record<string, string> | undefined {
  const configMap = host.read('configmaps', namespace, name) as KubeObject | undefined;
  if (!configMap) {
    if (optional) return undefined;
    throw new ContainerConfigError(`configmap "${name}" not found`);
  }
  return { ...configMap.data };
}

/**
 * A Secret's values, decoded. The emulator stores `stringData` as written (kube-apiserver would
 * fold it into `data`), so both are read, `stringData` winning as it does on a real server.
 */
export function secretValues(secret: KubeObject): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, encoded] of Object.entries((secret.data ?? {}) as Record<string, string>)) values[key] = Buffer.from(encoded, 'base64').toString('utf8');
  return { ...values, ...secret.stringData };
}

function secretData(host: PodHost, namespace: string, name: string, optional: boolean): Record<string, string> | undefined {
  const secret = host.read('secrets', namespace, name) as KubeObject | undefined;
  if (!secret) {
    if (optional) return undefined;
    throw new ContainerConfigError(`secret "${name}" not found`);
  }
  return secretValues(secret);
}

/** The downward API paths a kubelet supports for env. */
function fieldValue(path: string, pod: KubeObject, addresses: PodAddresses): string {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return String(pod.metadata[keyed[1]]?.[keyed[2]] ?? '');
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return addresses.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return addresses.hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${path}"`);
  }
}

/**
 * `limits.cpu`, `requests.memory`, … of the container, divided by `divisor` and rounded up, as the
 * kubelet does. A limit the container does not set would be the node's allocatable amount; the
 * sandbox has no node, so that is an error here.
 */
function resourceValue(name: string, ref: KubeObject, container: KubeObject): string {
  const [kind, resource] = String(ref.resource ?? '').split('.');
  const quantity = container.resources?.[kind]?.[resource];
  const amount = typeof quantity === 'number' ? quantity : typeof quantity === 'string' ? quantityValue(quantity) : undefined;
  if (amount === undefined) throw new ContainerConfigError(`env ${name}: resourceFieldRef ${ref.resource} is not set on the container (the sandbox has no node allocatable to fall back on)`);
  const divisor = ref.divisor === undefined ? 1 : (quantityValue(String(ref.divisor)) ?? 1);
  return String(Math.ceil(amount / divisor));
}
