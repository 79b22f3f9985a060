/**
 * The launcher's state directory: everything `meridian start` keeps lives in one directory, so
 * that two launchers never share anything and a restart with the same directory finds its
 * clusters, secrets and ports again.
 *
 *   platform.json          JWT secret, API key, emulator tokens, ports of the last run
 *   launcher.pid           the running launcher (a second one on the same directory refuses)
 *   hub.kubeconfig, <region>.kubeconfig
 *   state/<name>.json      the emulators' objects (written at exit, read at start)
 *   pods/<region>/         gateway Pods' volumes and logs
 *   redis/<region>/        Redis data (saved at exit)
 *   logs/                  emulators, operator, redis-server, Pub/Sub emulator
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface PlatformState {
  jwtSecret: string;
  apiKey: string;
  /** Bearer tokens of the emulators, by name: kubeconfigs stay valid across restarts. */
  tokens: Record<string, string>;
  /** Ports of the last run, by component: tried first, so bookmarks keep working. */
  ports: Record<string, number>;
}

export class StateDir {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** `dir` as given (created when missing), else a new directory under the OS temp dir. */
  static async open(dir: string | undefined): Promise<StateDir> {
    const path = dir ? resolve(dir) : await mkdtemp(join(tmpdir(), 'meridian-'));
    for (const sub of ['state', 'pods', 'redis', 'logs']) await mkdir(join(path, sub), { recursive: true });
    return new StateDir(path);
  }

  file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  /** Refuses when another live launcher holds the directory; a stale lock (its process gone) is taken over. */
  async lock(): Promise<void> {
    const file = this.file('launcher.pid');
    const holder = Number(await readFile(file, 'utf8').catch(() => ''));
    if (holder > 0 && holder !== process.pid && alive(holder)) {
      throw new Error(`another 'meridian start' (pid ${holder}) is using ${this.path}; stop it first or choose another --dir`);
    }
    await writeFile(file, String(process.pid));
  }

  async unlock(): Promise<void> {
    await rm(this.file('launcher.pid'), { force: true });
  }

  /** The saved state, or a new one (fresh secrets) on the first run. */
  async load(): Promise<PlatformState> {
    try {
      return JSON.parse(await readFile(this.file('platform.json'), 'utf8')) as PlatformState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${this.file('platform.json')}: ${(error as Error).message}`, { cause: error });
      return { jwtSecret: randomBytes(32).toString('hex'), apiKey: randomBytes(24).toString('base64url'), tokens: {}, ports: {} };
    }
  }

  async save(state: PlatformState): Promise<void> {
    await writeFile(this.file('platform.json'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
