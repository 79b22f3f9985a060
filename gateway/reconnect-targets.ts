/**
 * Where the clients of a draining pod should go: the endpoints of the healthy regions, in the
 * order this pod's region prefers them. The operator sets them (`POST /v1/admin/reconnect-targets`)
 * before it drains a region for planned maintenance; on drain, each client gets a `reconnect`
 * push naming them just before its 1012 close. Without targets nothing is pushed: clients
 * reconnect to the same address (a global load balancer sends them to a serving region).
 *
 * Held per server (no module state); replaced whole by each order.
 */
import { gatewayError } from './errors.ts';

/** ws:// or wss:// URL with no whitespace. */
const WS_URL = /^wss?:\/\/\S+$/;
const MAX_URL_LENGTH = 2048;

/** Parses `{endpoints: string[]}`, at most `maxEndpoints` WebSocket URLs; throws BAD_REQUEST on anything else. */
export function parseReconnectTargets(body: unknown, maxEndpoints: number): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw gatewayError('BAD_REQUEST', 'body must be a JSON object {endpoints}');
  const endpoints = (body as Record<string, unknown>).endpoints;
  if (!Array.isArray(endpoints) || endpoints.length > maxEndpoints) throw gatewayError('BAD_REQUEST', `endpoints must be an array of at most ${maxEndpoints} WebSocket URLs`);
  for (const endpoint of endpoints) {
    if (typeof endpoint !== 'string' || endpoint.length > MAX_URL_LENGTH || !WS_URL.test(endpoint)) throw gatewayError('BAD_REQUEST', `each endpoint must be a ws:// or wss:// URL of at most ${MAX_URL_LENGTH} characters`);
  }
  return [...endpoints] as string[];
}

export class ReconnectTargets {
  #endpoints: readonly string[] = [];

  set(endpoints: string[]): { endpoints: readonly string[] } {
    this.#endpoints = Object.freeze([...endpoints]);
    return this.state();
  }

  state(): { endpoints: readonly string[] } {
    return { endpoints: this.#endpoints };
  }

  /** The push sent before a drain's close, or undefined when no targets are set. */
  frame(): { op: 'reconnect'; endpoints: readonly string[] } | undefined {
    return this.#endpoints.length > 0 ? { op: 'reconnect', endpoints: this.#endpoints } : undefined;
  }
}
