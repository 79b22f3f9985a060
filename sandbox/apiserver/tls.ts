/**
 * A self-signed certificate for serving HTTPS on loopback, made once per process with the
 * `openssl` binary. kubectl (client-go) sends credentials only over TLS, so an emulator meant
 * for kubectl must speak HTTPS; clients skip verification (insecure-skip-tls-verify).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
}

let cached: KeyPair | undefined;

export class TlsUnavailableError extends Error {
  readonly code = 'SANDBOX_TLS_UNAVAILABLE';
}

export function selfSignedCertificate(): KeyPair {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'meridian-sandbox-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=meridian-sandbox', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '30'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cached = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    return cached;
  } catch (error) {
    throw new TlsUnavailableError(`cannot make a self-signed certificate with openssl (needed for tls: true): ${(error as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
