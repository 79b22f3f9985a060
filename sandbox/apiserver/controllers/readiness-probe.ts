/**
 * A container's readiness probe, run as a kubelet runs it: not Ready until the first success,
 * the first probe after `initialDelaySeconds`, then one every `periodSeconds`; Ready after
 * `successThreshold` consecutive successes, not Ready after `failureThreshold` consecutive
 * failures. `httpGet` succeeds on a status from 200 to 399 within `timeoutSeconds` (sent with
 * `Connection: close`, as the kubelet sends it, so a probe never holds a connection the server
 * must wait for when it drains); `tcpSocket` on a connection. Every probe goes to 127.0.0.1 and
 * the Pod's own port, whatever port the spec names (a gateway serves one). `periodSeconds` and
 * `initialDelaySeconds` are multiplied by `timeScale` so that tests run quickly.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { KubeObject } from '../registry.ts';

/** Kubernetes' defaults for a probe's fields. */
const PROBE_DEFAULTS = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };

export class ReadinessProbe {
  private readonly spec: KubeObject;
  private readonly port: number;
  private readonly timeScale: number;
  private readonly onChange: (ready: boolean) => void;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ready = false;
  private successes = 0;
  private failures = 0;

  constructor(spec: KubeObject, port: number, timeScale: number, onChange: (ready: boolean) => void) {
    this.spec = { ...PROBE_DEFAULTS, ...spec };
    this.port = port;
    this.timeScale = timeScale;
    this.onChange = onChange;
  }

  start(): void {
    this.schedule(this.spec.initialDelaySeconds * 1000 * this.timeScale);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.probeOnce(), delayMs);
  }

  private async probeOnce(): Promise<void> {
    const ok = await this.check();
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes += 1;
      if (!this.ready && this.successes >= this.spec.successThreshold) this.flip(true);
    } else {
      this.successes = 0;
      this.failures += 1;
      if (this.ready && this.failures >= this.spec.failureThreshold) this.flip(false);
    }
    this.schedule(this.spec.periodSeconds * 1000 * this.timeScale);
  }

  private flip(ready: boolean): void {
    this.ready = ready;
    this.onChange(ready);
  }

  private check(): Promise<boolean> {
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    if (this.spec.tcpSocket) return tcpCheck(this.port, timeoutMs);
    if (this.spec.httpGet) return httpGetSucceeds(this.port, this.spec.httpGet, timeoutMs);
    // exec and grpc probes are not run in the sandbox: a running container counts as passing.
    return Promise.resolve(true);
  }
}

/** An HTTP GET to the Pod's port as a probe (or preStop hook) sends it: true on 200-399 within `timeoutMs`. */
export function httpGetSucceeds(port: number, httpGet: KubeObject, timeoutMs: number): Promise<boolean> {
  const headers: Record<string, string> = { connection: 'close', 'user-agent': 'kube-probe/1.32' };
  for (const header of (httpGet.httpHeaders ?? []) as KubeObject[]) headers[String(header.name).toLowerCase()] = String(header.value);
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: httpGet.path ?? '/', method: 'GET', headers, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.on('timeout', () => req.destroy());
    // A refused or cut connection is a failed probe, as for the kubelet.
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tcpCheck(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: timeoutMs }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}
