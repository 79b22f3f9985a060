/**
 * `meridian operator`: runs the RealtimeCluster operator.
 *
 *   meridian operator [--kubeconfig FILE] [--namespace NS] [--metrics-port P] [--workers N] …
 *
 * Without --kubeconfig it uses $KUBECONFIG, else the in-cluster service account. Every flag may
 * also be given by its environment variable (listed by --help; the Helm chart sets them). Every replica
 * serves /healthz, /readyz and /metrics at once, then campaigns for the leader Lease; only the
 * leader runs the controller. A leader that loses its Lease stops and exits 1, so that it is
 * restarted clean (as client-go's controllers do); SIGTERM or SIGINT releases the Lease and exits 0.
 * This file is the only place that reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KubeClient } from './kube/client.ts';
import { defaultKubeconfigPath } from './kube/config.ts';
import pino, { type Logger } from 'pino';
import { createEventRecorder } from './events.ts';
import { Controller, CONTROLLER_DEFAULTS } from './controller.ts';
import { OperatorError, errorSummary } from './errors.ts';
import { startOperatorHttp } from './http.ts';
import { INFORMER_DEFAULTS } from './informer.ts';
import { LEADER_DEFAULTS, LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import { startDashboard } from './dashboard/index.ts';
import { kubeSources } from './dashboard/sources.ts';
import { REGION_POOL_DEFAULTS } from './regions.ts';
import { LOAD_MONITOR_DEFAULTS } from './autoscale/load-monitor.ts';
import { createReconciler } from './reconcile/index.ts';
import { createRelayTopology, type RelayTopology } from './relay-topology/index.ts';
import { FIELD_MANAGER } from './types.ts';

/** Each flag may also come from its environment variable (the Helm chart sets those); the flag wins. */
const FLAGS = {
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'kubeconfig of the hub cluster (default: in-cluster)' },
  namespace: { type: 'string', env: 'MERIDIAN_HUB_NAMESPACE', help: 'watch RealtimeClusters in this namespace only (default: all)' },
  'metrics-port': { type: 'string', env: 'MERIDIAN_METRICS_PORT', help: 'port of /healthz, /readyz and /metrics (default 9090; 0 picks one)' },
  'metrics-host': { type: 'string', env: 'MERIDIAN_METRICS_HOST', help: 'address of /healthz, /readyz and /metrics (default 127.0.0.1; 0.0.0.0 for a Pod\'s probes and scrapes)' },
  workers: { type: 'string', env: 'MERIDIAN_WORKERS', help: `concurrent reconciles (default ${CONTROLLER_DEFAULTS.workers})` },
  'resync-seconds': { type: 'string', env: 'MERIDIAN_RESYNC_SECONDS', help: `periodic resync (default ${CONTROLLER_DEFAULTS.resyncIntervalMs / 1000})` },
  'leader-elect': { type: 'boolean', env: '', help: 'campaign for the leader Lease (default true; --no-leader-elect to lead alone)' },
  'lease-namespace': { type: 'string', env: 'MERIDIAN_OPERATOR_NAMESPACE', help: 'namespace of the Lease (default: --namespace, else default)' },
  'lease-name': { type: 'string', env: 'MERIDIAN_LEASE_NAME', help: `name of the Lease (default ${LEADER_DEFAULTS.name})` },
  'lease-duration-ms': { type: 'string', env: 'MERIDIAN_LEASE_DURATION_MS', help: `default ${LEADER_DEFAULTS.leaseDurationMs}` },
  'renew-deadline-ms': { type: 'string', env: 'MERIDIAN_RENEW_DEADLINE_MS', help: `default ${LEADER_DEFAULTS.renewDeadlineMs}` },
  'retry-period-ms': { type: 'string', env: 'MERIDIAN_RETRY_PERIOD_MS', help: `default ${LEADER_DEFAULTS.retryPeriodMs}` },
  identity: { type: 'string', env: 'MERIDIAN_OPERATOR_POD', help: 'leader identity prefix (default: hostname); pid and a random suffix are appended' },
  'probe-interval-ms': { type: 'string', env: 'MERIDIAN_PROBE_INTERVAL_MS', help: `region health probe period (default ${REGION_POOL_DEFAULTS.probeIntervalMs})` },
  'watch-silence-ms': { type: 'string', env: 'MERIDIAN_WATCH_SILENCE_MS', help: `re-list after a watch is silent this long (default ${INFORMER_DEFAULTS.silenceLimitMs})` },
  'load-period-ms': { type: 'string', env: 'MERIDIAN_LOAD_PERIOD_MS', help: `read every gateway pod's /loadz this often (default ${LOAD_MONITOR_DEFAULTS.periodMs}); load older than two periods holds replicas` },
  'load-read-timeout-ms': { type: 'string', env: 'MERIDIAN_LOAD_READ_TIMEOUT_MS', help: `one /loadz read through pods/proxy (default ${LOAD_MONITOR_DEFAULTS.readTimeoutMs})` },
  'load-concurrency': { type: 'string', env: 'MERIDIAN_LOAD_CONCURRENCY', help: `/loadz reads in flight at once across all regions (default ${LOAD_MONITOR_DEFAULTS.maxConcurrentReads})` },
  'log-level': { type: 'string', env: 'MERIDIAN_LOG_LEVEL', help: 'pino level (default info)' },
  'dashboard-port': { type: 'string', env: 'MERIDIAN_DASHBOARD_PORT', help: 'serve the operations dashboard at /dashboard on this port (0 picks one; default: no dashboard)' },
  'dashboard-host': { type: 'string', env: 'MERIDIAN_DASHBOARD_HOST', help: 'address of the dashboard (default 127.0.0.1; any other needs --dashboard-token)' },
  'dashboard-token': { type: 'string', env: 'MERIDIAN_DASHBOARD_TOKEN', help: 'bearer token the dashboard requires (required beyond loopback)' },
  help: { type: 'boolean', env: '', short: 'h', help: 'print this help' },
} as const;

export interface OperatorArgs {
  kubeconfig?: string;
  namespace?: string;
  metricsPort: number;
  metricsHost: string;
  workers: number;
  resyncIntervalMs: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity: string;
  probeIntervalMs: number;
  watchSilenceMs: number;
  loadPeriodMs: number;
  loadReadTimeoutMs: number;
  loadConcurrency: number;
  logLevel: string;
  dashboard: { port: number; host: string; token?: string } | undefined;
}

function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => `  --${name.padEnd(20)} ${flag.help}${flag.env ? ` [$${flag.env}]` : ''}`);
  return `usage: meridian operator [options]\n\n${lines.join('\n')}\n`;
}

function integer(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) throw new OperatorError('INVALID_ARGUMENT', `--${flag} must be an integer ≥ ${min}, got '${value}'`);
  return number;
}

/** Parses and validates the command line (and the few environment variables that stand in for flags). */
export function parseOperatorArgs(argv: string[], env: NodeJS.ProcessEnv): OperatorArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: Object.fromEntries(Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type, ...('short' in f ? { short: f.short } : {}) }])), allowNegative: true, strict: true });
  } catch (error) {
    throw new OperatorError('INVALID_ARGUMENT', `${errorSummary(error).message}\n\n${usage()}`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const str = (name: keyof typeof FLAGS): string | undefined => {
    const value = (v[name] as string | undefined) ?? (FLAGS[name].env ? env[FLAGS[name].env] : undefined);
    return value === '' ? undefined : value;
  };
  const namespace = str('namespace');
  return Object.freeze({
    kubeconfig: str('kubeconfig'),
    namespace,
    metricsPort: integer('metrics-port', str('metrics-port'), 9090),
    metricsHost: str('metrics-host') ?? '127.0.0.1',
    workers: integer('workers', str('workers'), CONTROLLER_DEFAULTS.workers, 1),
    resyncIntervalMs: integer('resync-seconds', str('resync-seconds'), CONTROLLER_DEFAULTS.resyncIntervalMs / 1000, 1) * 1000,
    leaderElect: (v['leader-elect'] as boolean | undefined) ?? true,
    leaseNamespace: str('lease-namespace') ?? namespace ?? 'default',
    leaseName: str('lease-name') ?? LEADER_DEFAULTS.name,
    leaseDurationMs: integer('lease-duration-ms', str('lease-duration-ms'), LEADER_DEFAULTS.leaseDurationMs, 1),
    renewDeadlineMs: integer('renew-deadline-ms', str('renew-deadline-ms'), LEADER_DEFAULTS.renewDeadlineMs, 1),
    retryPeriodMs: integer('retry-period-ms', str('retry-period-ms'), LEADER_DEFAULTS.retryPeriodMs, 1),
    identity: `${str('identity') ?? hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    probeIntervalMs: integer('probe-interval-ms', str('probe-interval-ms'), REGION_POOL_DEFAULTS.probeIntervalMs, 1),
    watchSilenceMs: integer('watch-silence-ms', str('watch-silence-ms'), INFORMER_DEFAULTS.silenceLimitMs, 1),
    loadPeriodMs: integer('load-period-ms', str('load-period-ms'), LOAD_MONITOR_DEFAULTS.periodMs, 100),
    loadReadTimeoutMs: integer('load-read-timeout-ms', str('load-read-timeout-ms'), LOAD_MONITOR_DEFAULTS.readTimeoutMs, 1),
    loadConcurrency: integer('load-concurrency', str('load-concurrency'), LOAD_MONITOR_DEFAULTS.maxConcurrentReads, 1),
    logLevel: str('log-level') ?? 'info',
    dashboard: str('dashboard-port') === undefined ? undefined : { port: integer('dashboard-port', str('dashboard-port'), 0), host: str('dashboard-host') ?? '127.0.0.1', token: str('dashboard-token') },
  });
}

/**
 * The hub's client: the kubeconfig given (its current context; of a $KUBECONFIG path list, the
 * first file), else the in-cluster service account.
 */
function hubClient(file: string | undefined, env: NodeJS.ProcessEnv): KubeClient {
  if (file) return KubeClient.fromFile(defaultKubeconfigPath({ KUBECONFIG: file }));
  if (!env.KUBERNETES_SERVICE_HOST) throw new OperatorError('KUBECONFIG_UNAVAILABLE', 'no --kubeconfig, no $KUBECONFIG, and not running in a cluster (KUBERNETES_SERVICE_HOST is unset)');
  return KubeClient.inCluster(env);
}

export interface RunningOperator {
  readonly metricsPort: number;
  readonly dashboardPort: number | undefined;
  readonly controller: () => Controller | undefined;
  /** Resolves with the exit code once the operator has stopped. */
  readonly done: Promise<number>;
  stop(): void;
}

/**
 * Starts the operator in this process; main() wires it to signals and the exit code. `logger`
 * is the process's root logger: each part takes a child naming its component.
 */
export async function startOperator(args: OperatorArgs, env: NodeJS.ProcessEnv, logger: Logger): Promise<RunningOperator> {
  const log = logger.child({ component: 'operator' });
  const hub = hubClient(args.kubeconfig, env);
  const metrics = createOperatorMetrics();
  const shutdown = new AbortController();
  let controller: Controller | undefined;
  let relay: RelayTopology | undefined;
  let leading = false;

  const http = await startOperatorHttp({
    port: args.metricsPort,
    host: args.metricsHost,
    registry: metrics.registry,
    healthy: () => !shutdown.signal.aborted,
    readiness: () => {
      if (shutdown.signal.aborted) return { ready: false, reason: 'stopping' };
      if (!leading) return { ready: true, reason: 'standing by for the leader lease' };
      return controller?.synced ? { ready: true, reason: 'leading; caches synced' } : { ready: false, reason: 'leading; caches not synced yet' };
    },
  });
  // The dashboard reads the hub, the regions and this registry; it never writes.
  const dashboard = args.dashboard
    ? await startDashboard({ ...args.dashboard, sources: kubeSources(hub, metrics.registry, args.namespace), logger: logger.child({ component: 'dashboard' }) }).catch(async (error: unknown) => {
        await http.close();
        throw error;
      })
    : undefined;
  log.info({ host: args.metricsHost, port: http.port, dashboardPort: dashboard?.port, namespace: args.namespace ?? '(all)' }, 'operator started');

  const lead = async (term: AbortSignal): Promise<void> => {
    leading = true;
    metrics.leader.set(1);
    const events = createEventRecorder(hub, { component: FIELD_MANAGER, instance: args.identity, logger: logger.child({ component: 'events' }) });
    const topology = createRelayTopology({ logger: logger.child({ component: 'relay-topology' }) });
    relay = topology;
    controller = new Controller({
      hub,
      namespace: args.namespace,
      workers: args.workers,
      resyncIntervalMs: args.resyncIntervalMs,
      informers: { silenceLimitMs: args.watchSilenceMs },
      regions: { probeIntervalMs: args.probeIntervalMs },
      logger,
      metrics,
      autoscaling: { periodMs: args.loadPeriodMs, readTimeoutMs: args.loadReadTimeoutMs, maxConcurrentReads: args.loadConcurrency },
      createReconciler: (regions, hooks, caches, runtime) =>
        createReconciler({ hub, regions, events, logger: logger.child({ component: 'reconcile' }), metrics: hooks, readCluster: caches.readCluster, readSecret: caches.readSecret, relay: topology, autoscaler: runtime.autoscaler }),
    });
    const running = controller;
    term.addEventListener('abort', () => void running.stop(), { once: true });
    await running.start();
  };

  const done = (async (): Promise<number> => {
    let exitCode = 0;
    try {
      if (!args.leaderElect) {
        const term = new AbortController();
        shutdown.signal.addEventListener('abort', () => term.abort(), { once: true });
        await lead(term.signal);
        // A signal that came while starting has already fired: do not wait for it again.
        if (!shutdown.signal.aborted) await new Promise((resolve) => shutdown.signal.addEventListener('abort', resolve, { once: true }));
      } else {
        const elector = new LeaderElector({
          kube: hub,
          namespace: args.leaseNamespace,
          name: args.leaseName,
          identity: args.identity,
          leaseDurationMs: args.leaseDurationMs,
          renewDeadlineMs: args.renewDeadlineMs,
          retryPeriodMs: args.retryPeriodMs,
          logger: logger.child({ component: 'leader' }),
        });
        await elector.run(shutdown.signal, {
          onStartedLeading: (term) => {
            lead(term).catch((error: unknown) => {
              log.error({ err: errorSummary(error) }, 'controller failed to start');
              exitCode = 1;
              shutdown.abort();
            });
          },
          onStoppedLeading: async (reason) => {
            leading = false;
            metrics.leader.set(0);
            await controller?.stop();
            await relay?.close();
            if (reason === 'lost') {
              log.error('lost the leader lease; exiting so that a fresh process campaigns again');
              exitCode = 1;
              shutdown.abort();
            }
          },
        });
      }
    } finally {
      await controller?.stop();
      await relay?.close();
      await dashboard?.close();
      await http.close();
      await hub.close();
    }
    return exitCode;
  })();

  return { metricsPort: http.port, dashboardPort: dashboard?.port, controller: () => controller, done, stop: () => shutdown.abort() };
}

export async function main(argv: string[]): Promise<void> {
  let args: OperatorArgs;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(usage());
      return;
    }
    args = parseOperatorArgs(argv, process.env);
  } catch (error) {
    process.stderr.write(`meridian operator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  // The root logger carries the identity once; every part adds its own `component` as a child.
  const logger = pino({ level: args.logLevel, base: { identity: args.identity } });
  const log = logger.child({ component: 'operator' });
  let operator: RunningOperator;
  try {
    operator = await startOperator(args, process.env, logger);
  } catch (error) {
    log.fatal({ err: errorSummary(error) }, 'operator could not start');
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'shutting down');
      operator.stop();
    });
  }
  const exitCode = await operator.done;
  log.info({ exitCode }, 'operator stopped');
  process.exit(exitCode);
}
