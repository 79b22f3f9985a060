/**
 * A KubeConfig whose requests share one HTTP connection pool per cluster and user.
 *
 * client-node builds a new undici Agent for every request whose cluster has TLS settings (a CA,
 * a client certificate, or skipTLSVerify, which a plain-HTTP server needs too): each request
 * then opens its own connection (and, over HTTPS, its own handshake), and the idle connection
 * lingers in an agent nobody reuses. At 100 clusters × 3 regions that was ~3,700 connections to
 * converge, and the operator's resident memory kept every one of them. Here the first request's
 * agent is kept and handed to every later request for the same cluster and user, as client-node
 * already does for its own https.Agent cache (keyed the same way), so watches and calls to one
 * region share one keep-alive pool.
 *
 * Every KubeConfig the operator builds is one of these (the hub's and each region's).
 */
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class SharedAgentKubeConfig extends KubeConfig {
  /** Agent per cluster and user of this config (its current context names one of each). */
  readonly #agents = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const built = context.getDispatcher();
    // No TLS settings: undici's global dispatcher, already shared.
    if (!built) return;
    const key = JSON.stringify([this.getCurrentCluster()?.name ?? '', this.getCurrentUser()?.name ?? '']);
    const shared = this.#agents.get(key);
    // The agent just built never connected: dropped, it holds nothing.
    if (shared) context.setDispatcher(shared);
    else this.#agents.set(key, built);
  }

  /** Agents kept (one per cluster and user used so far). */
  get agentCount(): number {
    return this.#agents.size;
  }

  /** Closes every kept agent (in-flight requests finish first). */
  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }
}
