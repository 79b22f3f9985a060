/**
 * The hub connection, chosen as kubectl chooses it: `--kubeconfig FILE`, else $KUBECONFIG (a
 * list of files), else ~/.kube/config, else the in-cluster service account; `--context NAME`
 * picks a context; the namespace is `-n`, else the context's, else `default`. The plugin talks
 * to the hub's API only, through @kubernetes/client-node.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, type CoreV1Event } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION, type RealtimeCluster } from '../crds/types.ts';
import { PluginError, fromApiError } from './errors.ts';

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface Hub {
  namespace: string;
  getCluster(name: string): Promise<RealtimeCluster>;
  /** Merge-patches the spec (kubectl's `patch --type=merge`). */
  patchSpec(name: string, spec: Record<string, unknown>): Promise<RealtimeCluster>;
  /** Events about this cluster (by uid, so a deleted namesake's are left out). */
  clusterEvents(cluster: RealtimeCluster): Promise<CoreV1Event[]>;
  /** A Secret's decoded value at `key`; undefined when the Secret has no such key. */
  readSecretKey(name: string, key: string, hint: string): Promise<string | undefined>;
}

export function loadKubeConfig(flags: ConnectionFlags): KubeConfig {
  const config = new KubeConfig();
  try {
    if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
    // $KUBECONFIG, ~/.kube/config, in-cluster: client-node reads the environment itself.
    else config.loadFromDefault();
  } catch (error) {
    throw new PluginError('KUBECONFIG_INVALID', `cannot load the kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ''}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (flags.context) {
    if (!config.getContextObject(flags.context)) {
      throw new PluginError('KUBECONFIG_INVALID', `context "${flags.context}" does not exist in the kubeconfig (contexts: ${config.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    config.setCurrentContext(flags.context);
  }
  return config;
}

export function connect(flags: ConnectionFlags): Hub {
  const config = loadKubeConfig(flags);
  const namespace = flags.namespace || config.getContextObject(config.getCurrentContext())?.namespace || 'default';
  const custom = config.makeApiClient(CustomObjectsApi);
  const core = config.makeApiClient(CoreV1Api);
  const ref = (name: string) => `RealtimeCluster ${namespace}/${name}`;
  return {
    namespace,
    async getCluster(name) {
      try {
        return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as RealtimeCluster;
      } catch (error) {
        throw fromApiError(error, `read ${ref(name)}`, `kubectl meridian needs get on ${PLURAL}.${GROUP} in namespace ${namespace}`);
      }
    },
    async patchSpec(name, spec) {
      try {
        return (await custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { spec }, fieldManager: 'kubectl-meridian' },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )) as RealtimeCluster;
      } catch (error) {
        throw fromApiError(error, `patch ${ref(name)}`, `kubectl meridian needs patch on ${PLURAL}.${GROUP} in namespace ${namespace}`);
      }
    },
    async clusterEvents(cluster) {
      const fieldSelector = [`involvedObject.kind=${KIND}`, `involvedObject.name=${cluster.metadata.name}`, ...(cluster.metadata.uid ? [`involvedObject.uid=${cluster.metadata.uid}`] : [])].join(',');
      try {
        return (await core.listNamespacedEvent({ namespace, fieldSelector })).items;
      } catch (error) {
        throw fromApiError(error, `list Events of ${ref(cluster.metadata.name ?? '')}`, `kubectl meridian status needs list on events in namespace ${namespace}`);
      }
    },
    async readSecretKey(name, key, hint) {
      let secret;
      try {
        secret = await core.readNamespacedSecret({ namespace, name });
      } catch (error) {
        throw fromApiError(error, `read Secret ${namespace}/${name}`, hint);
      }
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    },
  };
}
