/**
 * Built-in kinds: their discovery names, subresources and `kubectl get` columns.
 * Columns follow kube-apiserver's printers closely enough for reading, not byte for byte.
 */
import type { KubeObject, PrinterColumn, ResourceType } from './registry.ts';
import { eventFromCore, eventToCore } from './event-conversion.ts';
import { validateMetadataName } from './validation.ts';

const name: PrinterColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name', compute: (o) => o.metadata?.name };
const age: PrinterColumn = { name: 'Age', type: 'string', description: 'CreationTimestamp', compute: (o) => o.metadata?.creationTimestamp };

function column(title: string, compute: (o: KubeObject) => unknown, type = 'string', priority = 0): PrinterColumn {
  return { name: title, type, priority, description: title, compute };
}

function count(value: unknown): number {
  return value && typeof value === 'object' ? Object.keys(value).length : 0;
}

function servicePorts(o: KubeObject): string {
  const ports: KubeObject[] = o.spec?.ports ?? [];
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function selectorText(selector: KubeObject | undefined): string {
  return Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>';
}

function podReady(o: KubeObject): string {
  const total = (o.spec?.containers ?? []).length;
  const ready = (o.status?.containerStatuses ?? []).filter((s: KubeObject) => s.ready).length;
  return `${ready}/${total}`;
}

/** When an Event last happened: its series, else lastTimestamp, else eventTime, else its creation. */
function lastSeen(o: KubeObject): unknown {
  return o.series?.lastObservedTime ?? o.lastTimestamp ?? o.deprecatedLastTimestamp ?? o.eventTime ?? o.metadata?.creationTimestamp;
}

/** kubectl's Event columns (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE); `regarding`/`note` name the fields of this version. */
function eventColumns(regarding: string, note: string): PrinterColumn[] {
  return [
    { name: 'Last Seen', type: 'date', description: 'Time of the last occurrence', compute: lastSeen },
    column('Type', (o) => o.type),
    column('Reason', (o) => o.reason),
    column('Object', (o) => `${String(o[regarding]?.kind ?? '').toLowerCase()}/${o[regarding]?.name ?? ''}`),
    column('Message', (o) => o[note]),
    { ...name, priority: 1 },
  ];
}

interface Spec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  scale?: ResourceType['scale'];
  generation?: boolean;
  columns?: PrinterColumn[];
  validate?: ResourceType['validate'];
  storedAs?: Pick<ResourceType, 'bucket' | 'fromStorage' | 'toStorage'>;
  /** All columns, when the kind's printer does not start with Name and end with Age. */
  allColumns?: PrinterColumn[];
}

function builtin(spec: Spec): ResourceType {
  return {
    group: spec.group,
    version: spec.version,
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    plural: spec.plural,
    singular: spec.kind.toLowerCase(),
    namespaced: spec.namespaced ?? true,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    status: spec.status ?? false,
    scale: spec.scale,
    generation: spec.generation ?? false,
    strategic: true,
    columns: spec.allColumns ?? [name, ...(spec.columns ?? []), age],
    validate: spec.validate,
    storageVersion: spec.version,
    ...spec.storedAs,
  };
}

function validateDeployment(o: KubeObject): Array<{ field: string; message: string }> {
  const causes: Array<{ field: string; message: string }> = [];
  const spec = o.spec ?? {};
  if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) {
    causes.push({ field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(spec.replicas)}: must be greater than or equal to 0` });
  }
  const selector = spec.selector?.matchLabels;
  if (!spec.selector) causes.push({ field: 'spec.selector', message: 'Required value' });
  const labels = spec.template?.metadata?.labels ?? {};
  if (selector && Object.entries(selector).some(([k, v]) => labels[k] !== v)) {
    causes.push({
      field: 'spec.template.metadata.labels',
      message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
    });
  }
  causes.push(...validateContainers(spec.template?.spec, 'spec.template.spec'));
  return causes;
}

function validateContainers(podSpec: KubeObject | undefined, path: string): Array<{ field: string; message: string }> {
  const containers: KubeObject[] = podSpec?.containers ?? [];
  if (containers.length === 0) return [{ field: `${path}.containers`, message: 'Required value' }];
  const causes: Array<{ field: string; message: string }> = [];
  containers.forEach((c, i) => {
    if (!c.name) causes.push({ field: `${path}.containers[${i}].name`, message: 'Required value' });
    if (!c.image) causes.push({ field: `${path}.containers[${i}].image`, message: 'Required value' });
  });
  return causes;
}

function validateNamespace(o: KubeObject): Array<{ field: string; message: string }> {
  // Namespace names are DNS-1123 labels, stricter than most names.
  const n = String(o.metadata?.name ?? '');
  if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n) && n.length <= 63) return [];
  return [
    {
      field: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(n)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    },
  ];
}

export function builtinTypes(): ResourceType[] {
  return [
    builtin({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], status: true, columns: [column('Status', (o) => o.status?.phase)], validate: validateNamespace }),
    builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', shortNames: ['cm'], columns: [column('Data', (o) => count(o.data) + count(o.binaryData), 'integer')] }),
    builtin({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', columns: [column('Type', (o) => o.type ?? 'Opaque'), column('Data', (o) => count(o.data), 'integer')] }),
    builtin({
      group: '', version: 'v1', kind: 'Service', plural: 'services', shortNames: ['svc'], categories: ['all'], status: true,
      columns: [
        column('Type', (o) => o.spec?.type ?? 'ClusterIP'),
        column('Cluster-IP', (o) => o.spec?.clusterIP ?? '<none>'),
        column('External-IP', () => '<none>'),
        column('Port(s)', servicePorts),
        column('Selector', (o) => Object.entries(o.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>', 'string', 1),
      ],
    }),
    builtin({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', shortNames: ['sa'], columns: [column('Secrets', (o) => (o.secrets ?? []).length, 'integer')] }),
    builtin({
      group: '', version: 'v1', kind: 'Pod', plural: 'pods', shortNames: ['po'], categories: ['all'], status: true,
      columns: [
        column('Ready', podReady),
        // As kubectl prints it: a waiting container's reason (CrashLoopBackOff, …) before the phase.
        column('Status', (o) => (o.metadata?.deletionTimestamp ? 'Terminating' : ((o.status?.containerStatuses ?? []).find((s: KubeObject) => s.state?.waiting?.reason)?.state.waiting.reason ?? o.status?.phase ?? 'Pending'))),
        column('Restarts', (o) => (o.status?.containerStatuses ?? []).reduce((n: number, s: KubeObject) => n + (s.restartCount ?? 0), 0), 'integer'),
        column('IP', (o) => o.status?.podIP ?? '<none>', 'string', 1),
        column('Node', (o) => o.spec?.nodeName ?? '<none>', 'string', 1),
      ],
      validate: (o) => validateContainers(o.spec, 'spec'),
    }),
    builtin({ group: '', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'], allColumns: eventColumns('involvedObject', 'message') }),
    builtin({
      group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'],
      allColumns: eventColumns('regarding', 'note'),
      storedAs: { bucket: '/events', fromStorage: eventFromCore, toStorage: eventToCore },
    }),
    builtin({
      group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', shortNames: ['deploy'], categories: ['all'], status: true, generation: true,
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' },
      columns: [
        column('Ready', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`),
        column('Up-to-date', (o) => o.status?.updatedReplicas ?? 0, 'integer'),
        column('Available', (o) => o.status?.availableReplicas ?? 0, 'integer'),
        column('Containers', (o) => (o.spec?.template?.spec?.containers ?? []).map((c: KubeObject) => c.name).join(','), 'string', 1),
        column('Images', (o) => (o.spec?.template?.spec?.containers ?? []).map((c: KubeObject) => c.image).join(','), 'string', 1),
      ],
      validate: validateDeployment,
    }),
    builtin({
      group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', shortNames: ['rs'], categories: ['all'], status: true, generation: true,
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' },
      columns: [
        column('Desired', (o) => o.spec?.replicas ?? 1, 'integer'),
        column('Current', (o) => o.status?.replicas ?? 0, 'integer'),
        column('Ready', (o) => o.status?.readyReplicas ?? 0, 'integer'),
        column('Containers', (o) => (o.spec?.template?.spec?.containers ?? []).map((c: KubeObject) => c.name).join(','), 'string', 1),
        column('Images', (o) => (o.spec?.template?.spec?.containers ?? []).map((c: KubeObject) => c.image).join(','), 'string', 1),
        column('Selector', (o) => selectorText(o.spec?.selector), 'string', 1),
      ],
      validate: validateDeployment,
    }),
    builtin({
      group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', shortNames: ['pdb'], status: true, generation: true,
      columns: [
        column('Min Available', (o) => o.spec?.minAvailable ?? 'N/A'),
        column('Max Unavailable', (o) => o.spec?.maxUnavailable ?? 'N/A'),
        column('Allowed Disruptions', (o) => o.status?.disruptionsAllowed ?? 0, 'integer'),
      ],
    }),
    builtin({
      group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases',
      columns: [column('Holder', (o) => o.spec?.holderIdentity ?? '')],
    }),
    builtin({
      group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false,
      shortNames: ['crd', 'crds'], status: true, generation: true,
      columns: [column('Created At', (o) => o.metadata?.creationTimestamp, 'date')],
    }),
  ];
}

/** Metadata checks every kind shares. */
export function validateMetadata(o: KubeObject): Array<{ field: string; message: string }> {
  return validateMetadataName(o.metadata?.name);
}
