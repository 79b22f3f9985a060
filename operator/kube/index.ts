/** The operator's Kubernetes client (see client.ts); this file only wires exports. */
export { KubeClient, PATCH_CONTENT_TYPES, type ObjectHeader, type ObjectList, type PatchType, type RequestOptions, type WatchQuery } from './client.ts';
export { defaultKubeconfigPath, inClusterTarget, loadKubeconfigFile, parseKubeconfig, type KubeTarget } from './config.ts';
export { KubeApiError, KubeConfigError, KUBE_CONFIG_ERROR_CODES, type KubeStatus } from './errors.ts';
export { collectionPath, objectPath, type ResourceRef } from './resources.ts';
