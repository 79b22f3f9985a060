/**
 * `meridian apiserver [--port P] [--host H] [--name N] [--kubeconfig-out FILE] [--ready-delay-ms MS]
 * [--kubelet delayed|process] [--kubelet-state-dir DIR] [--probe-time-scale X]
 * [--restart-backoff-ms MS] [--restart-backoff-max-ms MS] [--state-file FILE] [--no-tls]`:
 * runs one emulated cluster until SIGINT/SIGTERM and writes its kubeconfig (HTTPS with a
 * self-signed certificate unless --no-tls, so that kubectl sends the token). With
 * `--kubelet process` gateway Pods run as real `meridian gateway` processes, all ended on exit.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startApiServer } from './server.ts';

const USAGE = `usage: meridian apiserver [options]

  --port P                  listen port (default 0: a free port)
  --host H                  listen address (default 127.0.0.1)
  --name N                  cluster, context and user name in the kubeconfig
  --kubeconfig-out FILE     write the kubeconfig there (else print it)
  --kubelet delayed|process run gateway Pods as real processes with 'process' (default delayed)
  --kubelet-state-dir DIR   Pods' volumes and logs (process kubelet)
  --ready-delay-ms MS       delayed kubelet: Pods Ready after this long
  --probe-time-scale X      process kubelet: multiply probe periods (tests: 0.1)
  --restart-backoff-ms MS, --restart-backoff-max-ms MS
  --state-file FILE         keep objects across restarts (read at start, written at exit)
  --log-level L             pino level (default info)
  --no-tls                  serve HTTP (kubectl then sends no token)

Runs until SIGINT/SIGTERM; see docs/sandbox.md.
`;

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      name: { type: 'string' },
      'kubeconfig-out': { type: 'string' },
      'ready-delay-ms': { type: 'string' },
      kubelet: { type: 'string', default: 'delayed' },
      'kubelet-state-dir': { type: 'string' },
      'probe-time-scale': { type: 'string' },
      'restart-backoff-ms': { type: 'string' },
      'restart-backoff-max-ms': { type: 'string' },
      'state-file': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      // HTTPS by default: kubectl sends the bearer token only over TLS.
      'no-tls': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, got ${values.port}`);
  const readyDelayMs = nonNegative('--ready-delay-ms', values['ready-delay-ms']);
  const kubelet = values.kubelet;
  if (kubelet !== 'delayed' && kubelet !== 'process') throw new Error(`--kubelet must be delayed or process, got ${kubelet}`);
  const processRunner = {
    stateDir: values['kubelet-state-dir'],
    probeTimeScale: nonNegative('--probe-time-scale', values['probe-time-scale']),
    restartBackoffMs: nonNegative('--restart-backoff-ms', values['restart-backoff-ms']),
    restartBackoffMaxMs: nonNegative('--restart-backoff-max-ms', values['restart-backoff-max-ms']),
  };
  const logger = pino({ level: values['log-level'], base: { component: 'apiserver' } });
  const server = await startApiServer({ port, host: values.host, name: values.name, readyDelayMs, kubelet, processRunner, logger, tls: !values['no-tls'], stateFile: values['state-file'] });
  if (values['kubeconfig-out']) {
    await server.writeKubeconfig(values['kubeconfig-out']);
    logger.info({ file: values['kubeconfig-out'] }, 'kubeconfig written');
  } else {
    process.stdout.write(server.kubeconfig());
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Ends every Pod's process (SIGTERM, then SIGKILL) before the listener closes.
  await server.close();
}

function nonNegative(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value >= 0)) throw new Error(`${flag} must be a number >= 0, got ${text}`);
  return value;
}
