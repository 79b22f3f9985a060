/**
 * The operator keeps the relay's Pub/Sub topology on a real emulator (started here): the topic
 * and one subscription per region, exactly as the gateways name and expect them; no write when
 * nothing changed; a removed region's subscription deleted; the cluster's topology deleted
 * before its finalizer goes; Pub/Sub down is RelayReady False while the regions go on, and the
 * topology comes back with the emulator. Scenarios run in order on one cluster. Then, end to end:
 * gateway processes run by the sandbox's process runner in two regions relay a message over the
 * topology the operator made (they are not allowed to create it).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import type { RealtimeCluster } from '../crds/types.ts';
import { subscriptionName } from '../gateway/relay/index.ts';
import { createReconciler } from '../operator/reconcile/index.ts';
import { ReconcileError } from '../operator/reconcile/errors.ts';
import { connectPubSub } from '../operator/relay-topology/admin.ts';
import { createRelayTopology, type ConnectPubSub, type RelayTopology } from '../operator/relay-topology/index.ts';
import { PORT_ANNOTATION } from '../sandbox/apiserver/index.ts';
import { signToken, TestClient } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnlessPubsubEmulator, startPubsubEmulator, type PubsubEmulator } from './helpers/services.ts';
import {
  REGIONS,
  clusterEvents,
  clusterSpec,
  createCluster,
  deleteCluster,
  getCluster,
  patchCluster,
  reconcileUntil,
  regionDeployment,
  startSandbox,
  writeCounts,
  type Sandbox,
} from './operator-reconcile-harness.ts';

const skip = skipUnlessPubsubEmulator('the operator relay topology scenarios');
const project = 'meridian-local';
const topic = `rt-${randomUUID().slice(0, 8)}`;
const name = 'relayed';

/** Every Pub/Sub admin call the operator makes, by kind. */
const calls = { reads: 0, writes: 0 };

/** The real admin client, counting its calls. */
const countingConnect: ConnectPubSub = (connection, timeoutMs) => {
  const admin = connectPubSub(connection, timeoutMs);
  const read = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => (...args: A) => ((calls.reads += 1), call(...args));
  const write = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => (...args: A) => ((calls.writes += 1), call(...args));
  return {
    projectId: admin.projectId,
    getTopic: read(admin.getTopic),
    listTopicSubscriptions: read(admin.listTopicSubscriptions),
    getSubscription: read(admin.getSubscription),
    createTopic: write(admin.createTopic),
    deleteTopic: write(admin.deleteTopic),
    createSubscription: write(admin.createSubscription),
    updateSubscription: write(admin.updateSubscription),
    deleteSubscription: write(admin.deleteSubscription),
    close: admin.close,
  };
};

let emulator: PubsubEmulator;
let sandbox: Sandbox;
let relay: RelayTopology;
let raw: PubSub;
let key: string;

const condition = (cluster: RealtimeCluster | undefined, type: string) => cluster?.status?.conditions?.find((c) => c.type === type);
const relayReady = (cluster: RealtimeCluster | undefined) => condition(cluster, 'RelayReady')?.status === 'True';

async function subscriptionNames(): Promise<string[]> {
  const [subscriptions] = await raw.getSubscriptions();
  return subscriptions.map((s) => s.name.split('/').at(-1)!).sort();
}

async function topicExists(): Promise<boolean> {
  const [exists] = await raw.topic(topic).exists();
  return exists;
}

describe('the operator keeps the relay topology on the Pub/Sub emulator', { skip, concurrency: false }, () => {
  before(async () => {
    emulator = await startPubsubEmulator();
    // No metadata-server lookup from the client library (nothing here runs on Google Cloud).
    process.env.METADATA_SERVER_DETECTION = 'none';
    raw = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
    const base = await startSandbox();
    // recheckMs 0: every reconcile reads Pub/Sub, so each scenario sees the emulator as it is now.
    relay = createRelayTopology({ logger: pino({ level: 'silent' }), connect: countingConnect, recheckMs: 0, callTimeoutMs: 5_000 });
    const reconciler = createReconciler({ hub: base.hubClient, regions: base.pool, events: base.events, logger: pino({ level: 'silent' }), relay });
    sandbox = { ...base, reconciler };
  });

  after(async () => {
    await relay?.close();
    await raw?.close();
    await sandbox?.close();
    await emulator?.kill();
  });

  it('makes the topic and one subscription per region, as the gateways name and expect them', async () => {
    key = await createCluster(sandbox, name, clusterSpec({ relay: { pubsub: { projectId: project, topic, emulatorHost: emulator.host } } }));
    const cluster = await reconcileUntil(sandbox, key, (c) => c?.status?.phase === 'Ready' && relayReady(c), 'cluster Ready with RelayReady', 30_000);

    assert.ok(await topicExists(), 'the topic exists');
    for (const region of REGIONS) {
      // The gateway's own function: the operator makes the subscription a gateway opens.
      const [metadata] = await raw.subscription(subscriptionName(topic, region)).getMetadata();
      assert.equal(metadata.topic, `projects/${project}/topics/${topic}`);
      assert.equal(metadata.enableMessageOrdering, true, `ordering on in ${region}`);
      assert.equal(metadata.filter, `attributes.origin != "${region}"`, 'the origin filter is stored (the emulator does not apply it)');
      assert.equal(metadata.ackDeadlineSeconds, 30);
      assert.equal(Number(metadata.messageRetentionDuration?.seconds), 86_400);
      assert.equal(metadata.expirationPolicy?.ttl ?? null, null, 'never expires');
      assert.equal(metadata.labels?.['meridian-cluster'], `tenants_${name}`);
    }

    assert.deepEqual(cluster!.status!.relay, {
      topic: `projects/${project}/topics/${topic}`,
      subscriptions: REGIONS.map((region) => ({ region, name: `projects/${project}/subscriptions/${topic}-${region}` })),
    });
    assert.equal(condition(cluster, 'RelayReady')?.reason, 'TopologyReady');
    assert.ok((await clusterEvents(sandbox, name)).some((e) => e.reason === 'RelayApplied' && e.message?.includes(`created topic ${topic}`)));

    // What the gateways get: project and topic in gateway.yaml, the emulator by environment, and no `create`.
    for (const region of REGIONS) {
      const core = sandbox.regionConfigs[region].makeApiClient(CoreV1Api);
      const config = parse((await core.readNamespacedConfigMap({ name: `${name}-gateway-config`, namespace: 'meridian' })).data!['gateway.yaml']);
      assert.deepEqual(config.relay, { pubsub: { projectId: project, topic } });
      const env = (await regionDeployment(sandbox, region, name))!.spec!.template.spec!.containers[0].env ?? [];
      assert.equal(env.find((e) => e.name === 'PUBSUB_EMULATOR_HOST')?.value, emulator.host);
      assert.equal(env.find((e) => e.name === 'MERIDIAN_PUBSUB_CREATE'), undefined, 'gateways do not create the topology');
    }
  });

  it('makes no Pub/Sub write (and no API write) when nothing changed, though it reads and compares', async () => {
    const before = { ...calls };
    const apiWrites = writeCounts(sandbox);
    await sandbox.reconciler.reconcile(key);
    await sandbox.reconciler.reconcile(key);
    assert.equal(calls.writes, before.writes, 'zero Pub/Sub writes');
    assert.ok(calls.reads >= before.reads + 2 * (2 + REGIONS.length), 'each pass read the topic, its subscriptions and each region\'s subscription');
    assert.deepEqual(writeCounts(sandbox), apiWrites, 'zero writes to the API servers');

    // With the default recheck window, a topology just verified is not even read again.
    const lazy = createRelayTopology({ logger: pino({ level: 'silent' }), connect: countingConnect });
    const reconciler = createReconciler({ hub: sandbox.hubClient, regions: sandbox.pool, events: sandbox.events, logger: pino({ level: 'silent' }), relay: lazy });
    await reconciler.reconcile(key);
    const afterFirst = { ...calls };
    await reconciler.reconcile(key);
    await lazy.close();
    assert.deepEqual(calls, afterFirst, 'no Pub/Sub call within the recheck window');
  });

  it('repairs a setting changed by hand with one write, and never touches a subscription it does not own', async () => {
    const region = REGIONS[0];
    await raw.subscription(subscriptionName(topic, region)).setMetadata({ ackDeadlineSeconds: 90 });
    // Someone's own consumer of the topic (a debugging pull): not the operator's to change or delete.
    await raw.topic(topic).createSubscription(`${topic}-debug`);
    const before = calls.writes;
    await sandbox.reconciler.reconcile(key);
    assert.equal(calls.writes, before + 1, 'one update');
    const [metadata] = await raw.subscription(subscriptionName(topic, region)).getMetadata();
    assert.equal(metadata.ackDeadlineSeconds, 30);
    assert.ok((await subscriptionNames()).includes(`${topic}-debug`));
  });

  it('removes the subscription of a region removed from the spec', async () => {
    const cluster = await getCluster(sandbox, name);
    await patchCluster(sandbox, name, { spec: { regions: cluster!.spec.regions.filter((r) => r.name === REGIONS[0]) } });
    const after = await reconcileUntil(sandbox, key, (c) => c?.status?.relay?.subscriptions?.length === 1 && c.status.regions?.length === 1, 'one region left', 30_000);
    assert.deepEqual(await subscriptionNames(), [`${topic}-debug`, subscriptionName(topic, REGIONS[0])].sort());
    assert.equal(after!.status!.relay!.subscriptions![0].region, REGIONS[0]);
    assert.ok((await clusterEvents(sandbox, name)).some((e) => e.reason === 'RelayApplied' && e.message?.includes(`deleted subscription ${subscriptionName(topic, REGIONS[1])}`)));
  });

  it('with Pub/Sub down: RelayReady False with the reason, the regions still reconciled, and the topology back once it returns', async () => {
    await emulator.kill();
    // A change to the regions while Pub/Sub is down still reaches them.
    await patchCluster(sandbox, name, { spec: { gateway: { image: 'meridian:0.2.0' } } });
    await assert.rejects(sandbox.reconciler.reconcile(key), (error: unknown) => error instanceof ReconcileError && error.reason === 'RelayApiError');
    const down = await getCluster(sandbox, name);
    const relayCondition = condition(down, 'RelayReady');
    assert.equal(relayCondition?.status, 'False');
    assert.equal(relayCondition?.reason, 'PubSubUnavailable');
    assert.match(down!.status!.relay!.lastError!, /UNAVAILABLE|ECONNREFUSED/);
    assert.equal(down!.status!.relay!.topic, `projects/${project}/topics/${topic}`, 'what was seen before is kept');
    const deployment = await regionDeployment(sandbox, REGIONS[0], name);
    assert.equal(deployment!.spec!.template.spec!.containers[0].image, 'meridian:0.2.0', 'the region was reconciled');
    assert.ok((await clusterEvents(sandbox, name)).some((e) => e.reason === 'RelayFailed'));

    // The emulator comes back empty, as a restarted one does: the operator makes it all again.
    await emulator.restart();
    const back = await reconcileUntil(sandbox, key, relayReady, 'RelayReady again', 60_000);
    assert.equal(back!.status!.relay!.lastError, undefined);
    assert.ok(await topicExists());
    assert.deepEqual(await subscriptionNames(), [subscriptionName(topic, REGIONS[0])]);
    assert.ok((await clusterEvents(sandbox, name)).some((e) => e.reason === 'RelayRecovered'));
  });

  it('deletes the topic and subscriptions when the cluster is deleted, then the finalizer completes', async () => {
    await raw.topic(topic).createSubscription(`${topic}-debug`);
    await deleteCluster(sandbox, name);
    await reconcileUntil(sandbox, key, (c) => c === undefined, 'cluster gone', 30_000);
    assert.equal(await topicExists(), false, 'topic deleted');
    assert.deepEqual(await subscriptionNames(), [`${topic}-debug`], 'only the subscription the operator did not make is left');
    assert.ok((await clusterEvents(sandbox, name)).some((e) => e.reason === 'RelayCleanedUp'));
  });
});

describe('gateways run by the sandbox relay a message over the topology the operator made', { skip, concurrency: false }, () => {
  let liveEmulator: PubsubEmulator;
  let live: Sandbox;
  let liveRelay: RelayTopology;
  const clients: TestClient[] = [];

  before(async () => {
    liveEmulator = await startPubsubEmulator();
    process.env.METADATA_SERVER_DETECTION = 'none';
    const base = await startSandbox({}, { kubelet: 'process', processRunner: { probeTimeScale: 0.1 } });
    liveRelay = createRelayTopology({ logger: pino({ level: 'silent' }) });
    live = { ...base, reconciler: createReconciler({ hub: base.hubClient, regions: base.pool, events: base.events, logger: pino({ level: 'silent' }), relay: liveRelay }) };
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    await liveRelay?.close();
    await live?.close();
    await liveEmulator?.kill();
  });

  it('a message published in one region reaches a subscriber in the other', async () => {
    // The in-memory engine (one pod per region), so that nothing but the emulator joins the regions.
    const spec = clusterSpec({
      autoscaling: { minReplicas: 1, maxReplicas: 1 },
      regions: REGIONS.map((region) => ({ name: region, kubeconfigSecretRef: { name: `region-${region}`, key: 'kubeconfig' } })),
      relay: { pubsub: { projectId: project, topic: `live-${randomUUID().slice(0, 8)}`, emulatorHost: liveEmulator.host } },
    });
    const liveKey = await createCluster(live, 'live', spec);
    await reconcileUntil(live, liveKey, (c) => c?.status?.phase === 'Ready' && relayReady(c), 'real gateways Ready with RelayReady', 90_000);

    const urls: Record<string, string> = {};
    for (const region of REGIONS) {
      const core = live.regionConfigs[region].makeApiClient(CoreV1Api);
      const [pod] = (await core.listNamespacedPod({ namespace: 'meridian', labelSelector: 'app.kubernetes.io/instance=live' })).items;
      urls[region] = `ws://127.0.0.1:${pod.metadata!.annotations![PORT_ANNOTATION]}/v1/ws`;
    }
    const token = (user: string) => signToken(user, { secret: 'test-jwt-secret' });
    const teacher = await TestClient.connected(urls[REGIONS[0]], await token('teacher'));
    const learner = await TestClient.connected(urls[REGIONS[1]], await token('learner'));
    clients.push(teacher, learner);
    assert.equal((await learner.request({ op: 'subscribe', room: 'class-1' })).op, 'subscribed');
    // The gateways open their subscription within relay.pubsub.reopenMs of the operator making it: publish until one arrives.
    let sent = 0;
    const arrived = await waitFor(async () => {
      assert.equal((await teacher.request({ op: 'publish', room: 'class-1', data: { n: sent++ } })).op, 'published');
      return learner.messages('class-1').find((m) => m.region === REGIONS[0]);
    }, { what: `a message of ${REGIONS[0]} in ${REGIONS[1]}`, timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(arrived.region, REGIONS[0]);
  });
});
