/**
 * A container's volumes for a Pod run as a local process: there is no mount namespace, so each
 * volume the container mounts becomes a directory under the Pod's own directory, filled as a
 * kubelet fills it (ConfigMap and Secret volumes: one file per key, or the listed `items`;
 * `emptyDir`: empty), and the container's paths under a `mountPath` are rewritten to that
 * directory wherever they appear as a command word, an argument or an environment value.
 * A required ConfigMap or Secret that does not exist keeps the container waiting
 * (`ContainerCreating`), with the kubelet's MountVolume message, until it appears.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';
import type { KubeObject } from '../registry.ts';
import { ContainerConfigError, secretValues } from './container-env.ts';
import type { PodHost } from './pods.ts';

/** A container path and the local directory (or file, with subPath) standing for it. */
export interface Mount {
  mountPath: string;
  localPath: string;
}

/** Writes the container's volumes under `podDir/volumes` and returns its mounts, longest path first. */
export async function prepareVolumes(pod: KubeObject, container: KubeObject, host: PodHost, podDir: string): Promise<Mount[]> {
  const namespace: string = pod.metadata.namespace;
  const volumes = new Map<string, KubeObject>(((pod.spec?.volumes ?? []) as KubeObject[]).map((v) => [v.name, v]));
  const mounts: Mount[] = [];
  for (const mount of (container.volumeMounts ?? []) as KubeObject[]) {
    const volume = volumes.get(mount.name);
    if (!volume) throw new ContainerConfigError(`volumeMount ${mount.name}: the Pod has no volume of that name`);
    const dir = join(podDir, 'volumes', safeName(volume.name));
    const files = volumeFiles(volume, namespace, host);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const [path, content] of files) {
      const target = join(dir, path);
      if (relative(dir, target).startsWith('..')) throw new ContainerConfigError(`volume ${volume.name}: item path ${JSON.stringify(path)} leaves the volume`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content, { mode: 0o600 });
    }
    const localPath = mount.subPath ? join(dir, mount.subPath) : dir;
    mounts.push({ mountPath: normalize(String(mount.mountPath)).replace(/\/$/, ''), localPath });
  }
  return mounts.sort((a, b) => b.mountPath.length - a.mountPath.length);
}

/** `value` with a leading container path under a mount replaced by its local path. */
export function localize(value: string, mounts: readonly Mount[]): string {
  for (const { mountPath, localPath } of mounts) {
    if (value === mountPath) return localPath;
    if (value.startsWith(`${mountPath}/`)) return localPath + value.slice(mountPath.length);
  }
  return value;
}

/** The files of one volume, by path inside it. */
function volumeFiles(volume: KubeObject, namespace: string, host: PodHost): Map<string, string> {
  if (volume.emptyDir) return new Map();
  if (volume.configMap) {
    const { name, items, optional } = volume.configMap;
    const configMap = host.read('configmaps', namespace, name) as KubeObject | undefined;
    if (!configMap) {
      if (optional === true) return new Map();
      throw mountFailed(volume.name, `configmap "${name}" not found`);
    }
    const data: Record<string, string> = { ...configMap.data };
    for (const [key, encoded] of Object.entries((configMap.binaryData ?? {}) as Record<string, string>)) data[key] = Buffer.from(encoded, 'base64').toString('latin1');
    return selectItems(volume.name, data, items, optional === true, `configmap "${name}"`);
  }
  if (volume.secret) {
    const { secretName, items, optional } = volume.secret;
    const secret = host.read('secrets', namespace, secretName) as KubeObject | undefined;
    if (!secret) {
      if (optional === true) return new Map();
      throw mountFailed(volume.name, `secret "${secretName}" not found`);
    }
    return selectItems(volume.name, secretValues(secret), items, optional === true, `secret "${secretName}"`);
  }
  throw mountFailed(volume.name, 'only configMap, secret and emptyDir volumes can be mounted in the sandbox');
}

function selectItems(volumeName: string, data: Record<string, string>, items: KubeObject[] | undefined, optional: boolean, source: string): Map<string, string> {
  if (!items) return new Map(Object.entries(data));
  const files = new Map<string, string>();
  for (const item of items) {
    if (!(item.key in data)) {
      if (optional) continue;
      throw mountFailed(volumeName, `${source} has no key "${item.key}"`);
    }
    files.set(item.path, data[item.key]);
  }
  return files;
}

function mountFailed(volume: string, message: string): ContainerConfigError {
  return new ContainerConfigError(`MountVolume.SetUp failed for volume "${volume}" : ${message}`, 'ContainerCreating');
}

function safeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_.-]/g, '_');
}
