/**
 * Acknowledged writes that reached replicas: with `waitReplicas` > 0 every publish is followed
 * by `WAIT waitReplicas waitTimeoutMs` on the same connection (one pipeline, so on a cluster both
 * go to the master of the room's slot), and a publish is acknowledged only when that many
 * replicas confirmed it.
 *
 * Redis replicates asynchronously: without WAIT, a publish the master acknowledged can be lost
 * if the master dies before its replica received it and the replica is promoted. WAIT narrows
 * that window to the loss of the master and every confirming replica at once (it does not make
 * Redis strongly consistent: a replica that confirmed can still lose a failover election to
 * one that did not). A publish whose WAIT fell short fails with UNAVAILABLE although the master
 * stored and broadcast it: the caller retries with the same mid, which returns the stored
 * result (duplicate) once replicas confirm.
 */
import { Cluster } from 'ioredis';
import type { CommandClient } from './redis-connection.ts';
import type { ScriptCommands } from './redis-scripts.ts';
import { EngineUnavailableError } from './types.ts';

type PublishScript = ScriptCommands['meridianPublish'];

/** As ioredis's own cluster client: at most this many redirections, this far apart when the slot is mid-migration. */
const maxRedirections = 16;
const redirectRetryMs = 50;

interface PublishPipeline {
  meridianPublish(...args: Parameters<PublishScript>): PublishPipeline;
  wait(replicas: number, timeoutMs: number): PublishPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

export function publishWithReplicas(command: CommandClient, scripts: ScriptCommands, waitReplicas: number, waitTimeoutMs: number): PublishScript {
  if (waitReplicas === 0) return (...args) => scripts.meridianPublish(...args);
  return async (...args) => {
    let published: [Error | null, unknown] | undefined;
    let waited: [Error | null, unknown] | undefined;
    // The engine's deadline (commandTimeoutMs) bounds these attempts.
    for (let attempt = 1; ; attempt++) {
      const pipeline = command.pipeline() as unknown as PublishPipeline;
      [published, waited] = (await pipeline.meridianPublish(...args).wait(waitReplicas, waitTimeoutMs).exec()) ?? [];
      if (!published || !waited) throw new EngineUnavailableError('the publish pipeline returned no result');
      const redirect = published[0] && /^(MOVED|ASK|TRYAGAIN)\b/.exec(published[0].message)?.[1];
      if (!redirect || attempt >= maxRedirections) break;
      // A slot on the move. ioredis follows redirections of single commands itself, but not of
      // a pipeline whose other command (WAIT) succeeded: read the slot map again after MOVED,
      // wait for the migration of the slot's keys to end after ASK or TRYAGAIN.
      if (redirect === 'MOVED' && command instanceof Cluster) await new Promise((resolve) => command.refreshSlotsCache(() => resolve(undefined)));
      else await new Promise((resolve) => setTimeout(resolve, redirectRetryMs));
    }
    if (published[0]) throw published[0];
    if (waited[0]) throw waited[0];
    const [, , duplicate] = published[1] as unknown[];
    const confirmed = Number(waited[1]);
    if (confirmed < waitReplicas) {
      const what = duplicate === 1 ? 'already stored' : 'stored and broadcast';
      throw new EngineUnavailableError(`publish ${what} on the master but confirmed by ${confirmed} of ${waitReplicas} replicas within ${waitTimeoutMs} ms; retry with the same mid`);
    }
    return published[1];
  };
}
