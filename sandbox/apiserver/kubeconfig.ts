/**
 * A kubeconfig for one emulator: cluster, context and user all named after the instance (unique
 * names matter: client-node caches credentials by user name), plain http with
 * insecure-skip-tls-verify, and the bearer token the server requires.
 */
import { stringify } from 'yaml';

export function kubeconfigYaml(name: string, url: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
  });
}
