/**
 * Deletion in the API emulator: finalizers and deletionTimestamp, ownerReference garbage
 * collection (background, foreground, orphan), and namespace termination.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './helpers/net.ts';
import { bodyOf, jsonPatch, mergePatch, startSandbox, statusOf, type Sandbox } from './helpers/apiserver.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'lifecycle' });
});
after(() => sb.close());

const gone = async (read: () => Promise<unknown>) => {
  try {
    await read();
    return false;
  } catch (error) {
    if (statusOf(error) === 404) return true;
    throw error;
  }
};

async function owner(name: string): Promise<k8s.V1ConfigMap> {
  return sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name } } });
}

function ownedBy(o: k8s.V1ConfigMap, extra: Partial<k8s.V1OwnerReference> = {}): k8s.V1OwnerReference[] {
  return [{ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata!.name!, uid: o.metadata!.uid!, ...extra }];
}

describe('finalizers', () => {
  test('DELETE sets deletionTimestamp while finalizers remain; removing the last one removes the object', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fin', finalizers: ['meridian.dev/cleanup', 'other.dev/x'] } } });
    const response = await sb.raw('DELETE', '/api/v1/namespaces/default/configmaps/fin');
    // handlers/delete.go answers 200 with the object for a pending deletion (202 only with orphanDependents=false).
    assert.equal(response.status, 200, 'answered with the object, not yet deleted');
    assert.ok(response.body.metadata.deletionTimestamp, 'the answer is the object marked for deletion');
    const terminating = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fin' });
    assert.ok(terminating.metadata!.deletionTimestamp, 'deletionTimestamp set');
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'fin', body: [{ op: 'remove', path: '/metadata/finalizers/0' }] }, jsonPatch);
    assert.equal(await gone(() => sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fin' })), false, 'one finalizer left');
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'fin', body: { metadata: { finalizers: null } } }, mergePatch);
    assert.equal(await gone(() => sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fin' })), true);
  });

  test('no new finalizers once deletion has started', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fin2', finalizers: ['a.dev/x'] } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'fin2' });
    await assert.rejects(sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'fin2', body: { metadata: { finalizers: ['a.dev/x', 'b.dev/y'] } } }, mergePatch), (error) => {
      assert.equal(statusOf(error), 422);
      assert.match(bodyOf(error).message, /metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers \[\]string\{"b.dev\/y"\}/);
      return true;
    });
  });

  test('a second DELETE of a terminating object changes nothing', async () => {
    const before = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fin2' });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'fin2' });
    const after = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fin2' });
    assert.equal(after.metadata!.resourceVersion, before.metadata!.resourceVersion);
  });

  test('a delete precondition on a stale resourceVersion is 409', async () => {
    const cm = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'pre' } } });
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'pre', body: { data: { a: '1' } } }, mergePatch);
    await assert.rejects(sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'pre', body: { preconditions: { resourceVersion: cm.metadata!.resourceVersion } } }), (error) => statusOf(error) === 409);
  });
});

describe('garbage collection', () => {
  test('background: dependents go after their owner', async () => {
    const parent = await owner('bg-parent');
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'bg-child', ownerReferences: ownedBy(parent) } } });
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'bg-secret', ownerReferences: ownedBy(parent) } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'bg-parent' });
    await waitFor(async () => (await gone(() => sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'bg-child' }))) && (await gone(() => sb.core.readNamespacedSecret({ namespace: 'default', name: 'bg-secret' }))), { what: 'dependents collected' });
  });

  test('foreground: the owner waits (foregroundDeletion) until its dependents are gone', async () => {
    const parent = await owner('fg-parent');
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fg-child', finalizers: ['test.dev/hold'], ownerReferences: ownedBy(parent, { blockOwnerDeletion: true }) } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'fg-parent', propagationPolicy: 'Foreground' });
    const waiting = await waitFor(async () => {
      const child = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fg-child' });
      return child.metadata!.deletionTimestamp ? child : undefined;
    }, { what: 'child terminating' });
    assert.deepEqual(waiting.metadata!.finalizers, ['test.dev/hold'], 'the dependent waits for its own finalizer');
    const parentNow = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fg-parent' });
    assert.ok(parentNow.metadata!.deletionTimestamp);
    assert.deepEqual(parentNow.metadata!.finalizers, ['foregroundDeletion']);
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'fg-child', body: { metadata: { finalizers: null } } }, mergePatch);
    await waitFor(() => gone(() => sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'fg-parent' })), { what: 'owner removed after its dependent' });
  });

  test('orphan: dependents stay and lose the ownerReference', async () => {
    const parent = await owner('or-parent');
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'or-child', ownerReferences: ownedBy(parent) } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'or-parent', propagationPolicy: 'Orphan' });
    await waitFor(() => gone(() => sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'or-parent' })), { what: 'owner removed' });
    const child = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'or-child' });
    assert.equal(child.metadata!.ownerReferences, undefined);
  });

  test('a dependent with one owner left keeps living', async () => {
    const a = await owner('two-a');
    const b = await owner('two-b');
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'two-child', ownerReferences: [...ownedBy(a), ...ownedBy(b)] } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'two-a' });
    const child = await waitFor(async () => {
      const c = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'two-child' });
      return c.metadata!.ownerReferences!.length === 1 ? c : undefined;
    }, { what: 'dangling reference dropped' });
    assert.equal(child.metadata!.ownerReferences![0].name, 'two-b');
  });
});

describe('namespaces', () => {
  test('default, kube-system and kube-public may not be deleted', async () => {
    for (const name of ['default', 'kube-system', 'kube-public']) {
      await assert.rejects(sb.core.deleteNamespace({ name }), (error) => {
        assert.equal(statusOf(error), 403);
        assert.equal(bodyOf(error).message, `namespaces "${name}" is forbidden: this namespace may not be deleted`);
        return true;
      });
    }
  });

  test('deleting a namespace empties it, refuses new content meanwhile, then removes it', async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await sb.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'held', finalizers: ['test.dev/hold'] } } });
    await sb.core.createNamespacedSecret({ namespace: 'doomed', body: { metadata: { name: 'plain' } } });
    await sb.core.deleteNamespace({ name: 'doomed' });
    const ns = await sb.core.readNamespace({ name: 'doomed' });
    assert.equal(ns.status!.phase, 'Terminating');
    await assert.rejects(sb.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }), (error) => {
      assert.equal(statusOf(error), 403);
      assert.match(bodyOf(error).message, /because it is being terminated/);
      return true;
    });
    await waitFor(() => gone(() => sb.core.readNamespacedSecret({ namespace: 'doomed', name: 'plain' })), { what: 'content deleted' });
    assert.equal(await gone(() => sb.core.readNamespace({ name: 'doomed' })), false, 'waits for the held object');
    await sb.core.patchNamespacedConfigMap({ namespace: 'doomed', name: 'held', body: { metadata: { finalizers: null } } }, mergePatch);
    await waitFor(() => gone(() => sb.core.readNamespace({ name: 'doomed' })), { what: 'namespace removed' });
  });
});
