/**
 * The whole platform on loopback, in the order it depends on itself: a hub and one API
 * emulator per region (the regions with the process kubelet, so gateway Pods are real gateway
 * processes), one redis-server per region when it is installed, the Pub/Sub emulator when the
 * Google Cloud SDK has it, the operator (with its dashboard) as a process of its own, the sample
 * RealtimeCluster, and a front door per region. `stop()` ends all of it in the reverse order.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startApiServer, type ApiServerHandle } from '../apiserver/index.ts';
import { signDevToken } from '../../gateway/auth.ts';
import { ChildSet, freePort, onPath, portOpen, pubsubEmulatorLauncher, waitUntil, type Child } from './children.ts';
import { startFrontDoor, type FrontDoor } from './front-door.ts';
import { applyPlatform, clusterStatus, CLUSTER_NAME, RELAY_TOPIC } from './objects.ts';
import { createRelayTopology } from './relay-topology.ts';
import type { StateDir } from './state-dir.ts';

export const REGIONS = ['us-east1', 'europe-west1'] as const;
const MERIDIAN_BIN = fileURLToPath(new URL('../../bin/meridian.ts', import.meta.url));
const PUBSUB_PROJECT = 'meridian-local';

export interface PlatformOptions {
  dir: StateDir;
  /** How long to wait for everything to be Ready. */
  readyTimeoutMs?: number;
  logLevel?: string;
}

export interface RegionEndpoint {
  name: string;
  kubeconfigFile: string;
  demoUrl: string;
  frontDoorPort: number;
  user: string;
}

export interface RunningPlatform {
  hubKubeconfigFile: string;
  dashboardUrl: string;
  operatorMetricsPort: number;
  regions: RegionEndpoint[];
  /** What is missing and what that means (no Redis, no relay): said before the block and in it. */
  notes: string[];
  pids(): number[];
  ports(): number[];
  stop(): Promise<void>;
}

export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const { dir } = options;
  // The Pub/Sub client library otherwise looks for a cloud metadata server (and warns) on loopback runs.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const state = await dir.load();
  const children = new ChildSet();
  const cleanups: Array<() => Promise<void>> = [];
  const notes: string[] = [];
  const logLevel = options.logLevel ?? 'info';
  const port = async (name: string) => (state.ports[name] = await freePort(state.ports[name]));
  const token = (name: string) => (state.tokens[name] ??= randomBytes(24).toString('base64url'));

  const stop = async () => {
    // Reverse order of start: the operator first (it releases its Lease), the hub last.
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => process.stderr.write(`meridian start: ${(error as Error).message}\n`));
    cleanups.length = 0;
    children.close();
    await writeFile(dir.file('running.json'), '{}\n').catch(() => undefined);
  };

  try {
    const emulator = async (name: string, kubelet: 'delayed' | 'process'): Promise<ApiServerHandle> => {
      const logger = pino({ level: logLevel, base: { component: 'apiserver', cluster: name } }, pino.destination({ dest: dir.file('logs', `apiserver-${name}.log`), sync: false }));
      const options = {
        name,
        tls: true,
        token: token(name),
        kubelet,
        stateFile: dir.file('state', `${name}.json`),
        logger,
        processRunner: { stateDir: dir.file('pods', name), probeTimeScale: 0.1, restartBackoffMs: 1000, restartBackoffMaxMs: 10_000 },
      };
      await mkdir(dir.file('pods', name), { recursive: true });
      let server: ApiServerHandle;
      try {
        server = await startApiServer({ ...options, port: await port(name) });
      } catch {
        // The remembered port was taken between the check and the listen.
        server = await startApiServer({ ...options, port: 0 });
      }
      state.ports[name] = server.port;
      await server.writeKubeconfig(dir.file(`${name}.kubeconfig`));
      cleanups.push(() => server.close());
      return server;
    };

    const redisBinary = onPath('redis-server');
    const pubsubLauncher = pubsubEmulatorLauncher();
    if (!redisBinary) notes.push('redis-server is not on PATH: each region runs the memory engine with one pod (apt-get install redis-server for two pods per region sharing rooms)');
    if (!pubsubLauncher) notes.push('the Google Cloud Pub/Sub emulator is not installed: no cross-region relay, so a chat stays in its region (install google-cloud-sdk with its pubsub-emulator component)');

    const startRedis = async (region: string, redisPort: number): Promise<Child> => {
      await mkdir(dir.file('redis', region), { recursive: true });
      const child = children.start(`redis-${region}`, redisBinary!, ['--bind', '127.0.0.1', '--port', String(redisPort), '--dir', dir.file('redis', region), '--save', '60 1', '--appendonly', 'no'], { logFile: dir.file('logs', `redis-${region}.log`) });
      cleanups.push(() => child.stop());
      await waitUntil(`redis-server for ${region} on ${redisPort}`, () => portOpen(redisPort), 10_000, 50, () => (child.process.exitCode !== null ? `exited (see ${dir.file('logs', `redis-${region}.log`)})` : undefined));
      return child;
    };
    const startPubsub = async (pubsubPort: number): Promise<void> => {
      const child = children.start('pubsub-emulator', pubsubLauncher!, ['--host=127.0.0.1', `--port=${pubsubPort}`], { logFile: dir.file('logs', 'pubsub-emulator.log') });
      cleanups.push(() => child.stop());
      await waitUntil(`the Pub/Sub emulator on ${pubsubPort}`, () => portOpen(pubsubPort), 30_000, 50, () => (child.process.exitCode !== null ? `exited (see ${dir.file('logs', 'pubsub-emulator.log')})` : undefined));
      await createRelayTopology({ host: `127.0.0.1:${pubsubPort}`, projectId: PUBSUB_PROJECT, topic: RELAY_TOPIC, regions: [...REGIONS] });
    };

    // Ports first, so that everything can start at once; the hub first in `cleanups`, so it closes last.
    const redisPorts = redisBinary ? await Promise.all(REGIONS.map((name) => port(`redis-${name}`))) : undefined;
    const pubsubPort = pubsubLauncher ? await port('pubsub') : undefined;
    const hub = await emulator('hub', 'delayed');
    // Redis and the Pub/Sub emulator (a JVM: the slowest part) start while the regions and the operator do.
    const services = Promise.all([
      ...(redisPorts ?? []).map((p, i) => startRedis(REGIONS[i], p)),
      ...(pubsubPort ? [startPubsub(pubsubPort)] : []),
    ]);
    const regions = await Promise.all(REGIONS.map((name) => emulator(name, 'process')));
    const setup = {
      jwtSecret: state.jwtSecret,
      apiKey: state.apiKey,
      pubsubHost: pubsubPort ? `127.0.0.1:${pubsubPort}` : undefined,
      pubsubProject: PUBSUB_PROJECT,
      // Both emulator tokens are kept in platform.json, so the kubeconfigs in the hub's Secrets stay valid.
      regions: regions.map((server, i) => ({ name: server.name, kubeconfig: server.kubeconfig(), redisUrl: redisPorts ? `redis://127.0.0.1:${redisPorts[i]}` : undefined })),
    };
    await applyPlatform(hub.kubeconfig(), setup, { cluster: false });

    const metricsPort = await port('operator-metrics');
    const dashboardPort = await port('dashboard');
    const operatorEnv = { ...process.env, KUBECONFIG: '' };
    const operator = children.start('operator', process.execPath, [
      MERIDIAN_BIN, 'operator',
      '--kubeconfig', dir.file('hub.kubeconfig'),
      '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort),
      '--dashboard-host', '127.0.0.1', '--dashboard-port', String(dashboardPort),
      // Local regions answer in milliseconds: find an unreachable one in seconds, not half a minute.
      '--probe-interval-ms', '2000',
      '--log-level', logLevel,
    ], { logFile: dir.file('logs', 'operator.log'), env: operatorEnv });
    // Before the front doors and regions close: the operator stops first and releases its Lease.
    cleanups.push(() => operator.stop(10_000));
    // The gateways need the relay's topic and subscriptions when they start: the cluster comes after them.
    await services;
    await applyPlatform(hub.kubeconfig(), setup, { cluster: true });

    const doors: FrontDoor[] = [];
    for (const server of regions) {
      const door = await startFrontDoor({ region: server.name, kubeconfig: () => server.kubeconfig(), port: await port(`demo-${server.name}`) });
      state.ports[`demo-${server.name}`] = door.port;
      doors.push(door);
      cleanups.push(() => door.close());
    }
    await dir.save(state);

    const operatorGone = () => (operator.process.exitCode !== null ? `the operator exited with ${operator.process.exitCode} (see ${dir.file('logs', 'operator.log')})` : undefined);
    const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    await waitUntil(`RealtimeCluster ${CLUSTER_NAME} Ready`, async () => (await clusterStatus(hub.kubeconfig()))?.phase === 'Ready', readyTimeoutMs, 100, operatorGone);
    await waitUntil('a Ready gateway behind each region\'s front door', () => doors.every((door) => door.backends().length > 0), readyTimeoutMs, 100, operatorGone);
    await waitUntil('the dashboard', async () => (await fetch(`http://127.0.0.1:${dashboardPort}/dashboard`)).ok, readyTimeoutMs, 100, operatorGone);

    const users = ['ana', 'ben'];
    const endpoints: RegionEndpoint[] = await Promise.all(
      doors.map(async (door, i) => {
        const user = users[i % users.length];
        const jwt = await signDevToken(state.jwtSecret, { sub: user, name: user, rooms: ['*'], ttlSec: 12 * 3600 });
        return { name: door.region, kubeconfigFile: dir.file(`${door.region}.kubeconfig`), frontDoorPort: door.port, user, demoUrl: `http://127.0.0.1:${door.port}/#token=${jwt}` };
      }),
    );
    // For tests and scripts: what is running now (the printed block says the same for people).
    const running = {
      launcher: process.pid,
      dashboardUrl: `http://127.0.0.1:${dashboardPort}/dashboard`,
      hubKubeconfig: dir.file('hub.kubeconfig'),
      regions: endpoints,
    };
    await writeFile(dir.file('running.json'), `${JSON.stringify(running, null, 2)}\n`, { mode: 0o600 });

    return {
      hubKubeconfigFile: dir.file('hub.kubeconfig'),
      dashboardUrl: running.dashboardUrl,
      operatorMetricsPort: metricsPort,
      regions: endpoints,
      notes,
      pids: () => children.pids(),
      ports: () => Object.values(state.ports),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
