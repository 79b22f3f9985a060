/**
 * `meridian apiserver [--port P] [--host H] [--name N] [--kubeconfig-out FILE] [--ready-delay-ms MS] [--no-tls]`:
 * runs one emulated cluster until SIGINT/SIGTERM and writes its kubeconfig (HTTPS with a
 * self-signed certificate unless --no-tls, so that kubectl sends the token).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startApiServer } from './server.ts';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      name: { type: 'string' },
      'kubeconfig-out': { type: 'string' },
      'ready-delay-ms': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      // HTTPS by default: kubectl sends the bearer token only over TLS.
      'no-tls': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, got ${values.port}`);
  const readyDelayMs = values['ready-delay-ms'] === undefined ? undefined : Number(values['ready-delay-ms']);
  if (readyDelayMs !== undefined && !(readyDelayMs >= 0)) throw new Error(`--ready-delay-ms must be >= 0, got ${values['ready-delay-ms']}`);
  const logger = pino({ level: values['log-level'], base: { component: 'apiserver' } });
  const server = await startApiServer({ port, host: values.host, name: values.name, readyDelayMs, logger, tls: !values['no-tls'] });
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
  await server.close();
}
