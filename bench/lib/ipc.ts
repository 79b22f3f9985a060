/**
 * Request/response over a child process's IPC channel: the runner asks a server for a memory
 * sample or the load generator for a run, and waits for the matching reply. A child that exits
 * fails every pending request at once instead of leaving the runner waiting.
 */
import type { ChildProcess } from 'node:child_process';
import { BenchError, BenchErrorCode } from './errors.ts';

export interface IpcRequest {
  id: number;
  cmd: string;
  [key: string]: unknown;
}

export interface IpcReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class IpcClient {
  private readonly child: ChildProcess;
  private readonly label: string;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `output`: the process's last printed lines, quoted when it dies with a request pending. */
  constructor(child: ChildProcess, label: string, output: () => string = () => '') {
    this.child = child;
    this.label = label;
    child.on('message', (message: IpcReply) => this.settle(message));
    child.once('exit', (code, signal) => {
      const error = new BenchError(BenchErrorCode.PROCESS_EXITED, `${label} exited (code ${code}, signal ${signal}) with a request pending; last output:\n${output()}`);
      for (const [id, entry] of this.pending) {
        clearTimeout(entry.timer);
        this.pending.delete(id);
        entry.reject(error);
      }
    });
  }

  request<T>(cmd: string, body: object, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BenchError(BenchErrorCode.TIMEOUT, `${this.label} did not answer '${cmd}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ ...body, id, cmd } satisfies IpcRequest, (error) => {
        if (!error) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new BenchError(BenchErrorCode.PROCESS_EXITED, `cannot send '${cmd}' to ${this.label}`, { cause: error }));
      });
    });
  }

  private settle(message: IpcReply): void {
    if (typeof message?.id !== 'number') return;
    const entry = this.pending.get(message.id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(message.id);
    if (message.ok) entry.resolve(message.result);
    else entry.reject(new BenchError(BenchErrorCode.CLIENT_FAILED, `${this.label}: ${message.error?.code ?? 'ERROR'} ${message.error?.message ?? ''}`));
  }
}

type Handler = (request: IpcRequest) => unknown | Promise<unknown>;

/** The child's side: answers each request with its handler's result or error. */
export function serveIpc(handlers: Record<string, Handler>): void {
  if (!process.send) throw new BenchError(BenchErrorCode.PROTOCOL, 'serveIpc needs a process spawned with an IPC channel');
  process.on('message', async (request: IpcRequest) => {
    const handler = handlers[request.cmd];
    let reply: IpcReply;
    try {
      if (!handler) throw new BenchError(BenchErrorCode.PROTOCOL, `unknown IPC command '${request.cmd}'`);
      reply = { id: request.id, ok: true, result: await handler(request) };
    } catch (error) {
      const err = error as Error & { code?: string };
      reply = { id: request.id, ok: false, error: { code: err.code ?? 'ERROR', message: err.message } };
    }
    process.send?.(reply);
  });
}
