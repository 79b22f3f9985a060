/**
 * The sandbox API emulator for tests, with @kubernetes/client-node clients wired to it (for the
 * tests' own setup and checks) and the operator's client (`client`, for operator code).
 * `raw` sends requests with the bearer token for cases the generated clients do not cover.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeClient } from '../../operator/kube/client.ts';
import { startApiServer, type ApiServerHandle, type ApiServerOptions } from '../../sandbox/apiserver/index.ts';

export { startApiServer };
export type { ApiServerHandle, ApiServerOptions };

export interface Sandbox {
  server: ApiServerHandle;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  crds: k8s.ApiextensionsV1Api;
  coordination: k8s.CoordinationV1Api;
  policy: k8s.PolicyV1Api;
  objects: k8s.KubernetesObjectApi;
  /** The operator's own client (operator/kube), for passing into operator code. */
  client: KubeClient;
  /** A request with the server's token; JSON body in, parsed JSON (or text) out. */
  raw(method: string, path: string, options?: { body?: unknown; contentType?: string; accept?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startSandbox(options: ApiServerOptions = {}): Promise<Sandbox> {
  const server = await startApiServer(options);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const token = kc.getCurrentUser()?.token ?? '';
  const client = KubeClient.fromString(server.kubeconfig());
  return {
    server,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    crds: kc.makeApiClient(k8s.ApiextensionsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    client,
    async raw(method, path, { body, contentType = 'application/json', accept = 'application/json' } = {}) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': contentType, accept },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (health endpoints answer text): keep the text.
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** The HTTP status of a client-node ApiException (or undefined for other errors). */
export function statusOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

/** The parsed Status body of a client-node ApiException. */
export function bodyOf(error: unknown): any {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  }
  return body;
}

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
export const strategicPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
export const applyPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

/** A minimal valid Deployment. */
export function deployment(name: string, replicas = 1, image = 'nginx:1.27'): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
    },
  };
}

/**
 * A CRD exercising the schema features the emulator implements: defaults, enum, bounds,
 * pattern, a map list keyed by name, preserve-unknown-fields, status and scale subresources,
 * printer columns, a short name and a category.
 */
export const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.meridian.dev' },
  spec: {
    group: 'test.meridian.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wd'], categories: ['meridian'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        additionalPrinterColumns: [
          { name: 'Size', type: 'string', jsonPath: '.spec.size' },
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Regions', type: 'string', jsonPath: '.spec.regions[*].name', priority: 1 },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['regions'],
                properties: {
                  replicas: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
                  size: { type: 'string', enum: ['small', 'large'], default: 'small' },
                  owner: { type: 'string', minLength: 3, maxLength: 8 },
                  regions: {
                    type: 'array',
                    maxItems: 3,
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['name'],
                    items: {
                      type: 'object',
                      required: ['name'],
                      properties: {
                        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
                        weight: { type: 'integer', minimum: 1, default: 1 },
                      },
                    },
                  },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};
