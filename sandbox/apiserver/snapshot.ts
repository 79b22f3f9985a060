/**
 * Optional persistence for a long-running local emulator (`meridian start` keeps its clusters
 * across restarts): the store is written to one JSON file when the emulator closes, and read
 * back when it starts. No etcd semantics: objects come back with their names, uids, timestamps
 * and specs, and new resourceVersions (clients re-list after a restart anyway).
 *
 * Pods are not restored: their processes ended with the emulator, as a node's containers end
 * with the node. Their ReplicaSets create new ones, which the runner starts.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { KubeObject } from './registry.ts';
import type { Store } from './store.ts';

const FORMAT = 1;
const NOT_RESTORED = new Set(['/pods']);
const CRD_BUCKET_SUFFIX = '/customresourcedefinitions';

interface SnapshotFile {
  format: number;
  savedAt: string;
  objects: Array<{ bucket: string; object: KubeObject }>;
}

/** Writes every stored object but Pods; atomic (a temp file renamed over the old one). */
export async function writeSnapshot(store: Store, file: string, now: Date): Promise<number> {
  const objects = store.entries().filter(({ bucket }) => !NOT_RESTORED.has(bucket));
  const content: SnapshotFile = { format: FORMAT, savedAt: now.toISOString(), objects };
  await writeFile(`${file}.tmp`, JSON.stringify(content), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return objects.length;
}

/**
 * Puts a snapshot's objects back (CRDs first, so that their kinds are served before their
 * objects arrive; then namespaces; then the rest). A missing file is an empty store; a file of
 * another format or unreadable JSON is an error naming the file, never silently dropped.
 */
export async function restoreSnapshot(store: Store, file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let content: SnapshotFile;
  try {
    content = JSON.parse(text) as SnapshotFile;
  } catch (error) {
    throw new Error(`state file ${file} is not valid JSON (${(error as Error).message}); move it away to start empty`, { cause: error });
  }
  if (content.format !== FORMAT || !Array.isArray(content.objects)) throw new Error(`state file ${file} has format ${String(content.format)}, expected ${FORMAT}; move it away to start empty`);
  const rank = (bucket: string) => (bucket.endsWith(CRD_BUCKET_SUFFIX) ? 0 : bucket === '/namespaces' ? 1 : 2);
  const ordered = content.objects.filter(({ bucket }) => !NOT_RESTORED.has(bucket)).sort((a, b) => rank(a.bucket) - rank(b.bucket));
  for (const { bucket, object } of ordered) {
    const { resourceVersion: _dropped, ...metadata } = object.metadata;
    store.create(bucket, { ...object, metadata });
  }
  return ordered.length;
}
