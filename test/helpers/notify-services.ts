/**
 * Real receivers for notification tests, each on a free loopback port:
 * - `startSmtp()`: an SMTP server (the `smtp-server` package) that parses what arrives and can
 *   answer a chosen reply code, or hold messages until released.
 * - `startWebhookReceiver()`: verifies the HMAC-SHA256 signature over `timestamp.body`.
 * - `startPushService()`: a Web Push service over HTTPS (a self-signed certificate made with
 *   openssl) that checks the VAPID JWT (ES256 signature against the public key, aud, exp, sub)
 *   and decrypts the aes128gcm payload with the subscription's private key and auth secret
 *   (RFC 8291), as the browser would.
 */
import { createECDH, createHmac, createPublicKey, hkdfSync, createDecipheriv, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Map<string, string>;
  /** Content types of the MIME parts found. */
  parts: string[];
  session: string;
}

/** What the SMTP server answers for the next message: 'ok', or a reply code such as 451 / 550. */
export type SmtpReply = 'ok' | number;

export interface SmtpServer {
  port: number;
  url: string;
  /** Messages accepted with 250 (a held message counts once released, if its client is still there). */
  accepted: ReceivedMail[];
  /** Every DATA attempt, answered or not. */
  attempts: number;
  replies: SmtpReply[];
  /** While set, messages wait before their answer until `release()`. */
  hold: boolean;
  release(): void;
  waitAccepted(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  stop(): Promise<void>;
}

function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) headers.set(line.slice(0, at).toLowerCase(), line.slice(at + 1).trim());
  }
  return headers;
}

export async function startSmtp(options: { user?: string; password?: string } = {}): Promise<SmtpServer> {
  const held: (() => void)[] = [];
  const closedSessions = new Set<string>();
  const waiters = new Set<() => void>();
  const handle = {
    port: 0,
    url: '',
    accepted: [] as ReceivedMail[],
    attempts: 0,
    replies: [] as SmtpReply[],
    hold: false,
    release() {
      handle.hold = false;
      settleThen(() => {
        for (const go of held.splice(0)) go();
      });
    },
    async waitAccepted(count: number, timeoutMs = 20_000) {
      await waitUntil(() => handle.accepted.length >= count, timeoutMs, `${count} accepted emails (have ${handle.accepted.length})`, waiters);
      return handle.accepted;
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = new SMTPServer({
    authOptional: !options.user,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.user && auth.password === options.password) return callback(null, { user: auth.username });
      callback(new Error('bad credentials'));
    },
    onClose(session: SMTPServerSession) {
      closedSessions.add(session.id);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        handle.attempts += 1;
        const reply = handle.replies.shift() ?? 'ok';
        const finish = () => {
          if (reply !== 'ok') {
            const error = Object.assign(new Error(`refused with ${reply}`), { responseCode: reply });
            return callback(error);
          }
          // The client died before hearing 250: not delivered (a real server would not deliver either).
          if (closedSessions.has(session.id) || clientGone(server, session.id)) return;
          const raw = Buffer.concat(chunks).toString('utf8');
          handle.accepted.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            headers: parseHeaders(raw),
            parts: [...raw.matchAll(/^Content-Type:\s*([^;\r\n]+)/gim)].map((m) => m[1].toLowerCase()),
            session: session.id,
          });
          for (const wake of waiters) wake();
          callback();
        };
        if (handle.hold) held.push(finish);
        else finish();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  handle.port = ((server as unknown as { server: Server }).server.address() as AddressInfo).port;
  handle.url = `smtp://127.0.0.1:${handle.port}`;
  return handle;
}

/**
 * Runs `fn` after the event loop has polled sockets twice: a connection whose client process
 * was just killed has then been seen closed, so a held message is not answered to the dead.
 */
function settleThen(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}

/** True when the SMTP connection of `sessionId` has seen its client end (read side closed). */
function clientGone(server: SMTPServer, sessionId: string): boolean {
  const connections = (server as unknown as { connections: Set<{ id?: string; session?: { id: string }; _socket?: { readableEnded: boolean; destroyed: boolean } }> }).connections;
  for (const connection of connections) {
    if ((connection.session?.id ?? connection.id) !== sessionId) continue;
    return !connection._socket || connection._socket.readableEnded || connection._socket.destroyed;
  }
  return true; // no longer a connection of the server
}

function waitUntil(check: () => boolean, timeoutMs: number, what: string, waiters: Set<() => void>): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(wake);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const wake = () => {
      if (!check()) return;
      clearTimeout(timer);
      waiters.delete(wake);
      resolve();
    };
    waiters.add(wake);
  });
}

export interface WebhookDelivery {
  delivery: string;
  body: Record<string, any>;
}

export interface WebhookReceiver {
  port: number;
  url: string;
  /** Requests answered 2xx with a valid signature. */
  accepted: WebhookDelivery[];
  /** Requests whose signature or timestamp did not verify (answered 400). */
  rejected: number;
  attempts: number;
  /** Status answered to the next requests (then 200). */
  statuses: number[];
  hold: boolean;
  release(): void;
  waitAccepted(count: number, timeoutMs?: number): Promise<WebhookDelivery[]>;
  stop(): Promise<void>;
}

/** Tolerance for the signature timestamp, as receivers use against replays. */
const webhookToleranceSec = 300;

export function verifyWebhook(secret: string, header: string | undefined, body: string, nowSec: number): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  if (Math.abs(nowSec - Number(match[1])) > webhookToleranceSec) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

export async function startWebhookReceiver(secret: string, port = 0): Promise<WebhookReceiver> {
  const held: (() => void)[] = [];
  const waiters = new Set<() => void>();
  const handle: WebhookReceiver = {
    port: 0,
    url: '',
    accepted: [],
    rejected: 0,
    attempts: 0,
    statuses: [],
    hold: false,
    release() {
      handle.hold = false;
      settleThen(() => {
        for (const go of held.splice(0)) go();
      });
    },
    waitAccepted: async (count, timeoutMs = 20_000) => {
      await waitUntil(() => handle.accepted.length >= count, timeoutMs, `${count} webhooks (have ${handle.accepted.length})`, waiters);
      return handle.accepted;
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      handle.attempts += 1;
      if (!verifyWebhook(secret, req.headers['meridian-signature'] as string | undefined, body, Math.floor(Date.now() / 1000))) {
        handle.rejected += 1;
        res.writeHead(400).end();
        return;
      }
      const status = handle.statuses.shift() ?? 200;
      const finish = () => {
        if (req.socket.destroyed || req.socket.readableEnded) return; // the sender died before hearing the answer
        if (status >= 200 && status < 300) {
          handle.accepted.push({ delivery: String(req.headers['meridian-delivery']), body: JSON.parse(body) });
          for (const wake of waiters) wake();
        }
        res.writeHead(status).end();
      };
      if (handle.hold) held.push(finish);
      else finish();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  handle.port = (server.address() as AddressInfo).port;
  handle.url = `http://127.0.0.1:${handle.port}/hooks/meridian`;
  return handle;
}

/** A browser's side of a push subscription: its ECDH key pair and auth secret. */
export interface BrowserSubscription {
  json: { endpoint: string; keys: { p256dh: string; auth: string } };
  decrypt(body: Buffer): string;
}

/** Decrypts an aes128gcm Web Push body (RFC 8188 framing, RFC 8291 key derivation). */
function decryptAes128gcm(body: Buffer, uaPrivate: ReturnType<typeof createECDH>, uaPublic: Buffer, authSecret: Buffer): string {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20];
  const asPublic = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  if (ciphertext.length > recordSize) throw new Error('more than one record');
  const ecdhSecret = uaPrivate.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (padded[end] !== 2) throw new Error('missing last-record delimiter');
  return padded.subarray(0, end).toString('utf8');
}

export function browserSubscription(endpoint: string): BrowserSubscription {
  const ecdh = createECDH('prime256v1');
  const uaPublic = ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    json: { endpoint, keys: { p256dh: uaPublic.toString('base64url'), auth: auth.toString('base64url') } },
    decrypt: (body) => decryptAes128gcm(body, ecdh, uaPublic, auth),
  };
}

export interface PushMessage {
  path: string;
  headers: IncomingMessage['headers'];
  jwt: { aud: string; exp: number; sub: string };
  payload: Record<string, any>;
}

export interface PushService {
  port: number;
  origin: string;
  /** Trusts the service's self-signed certificate (pass to the gateway). */
  agent: Agent;
  certFile: string;
  /** Messages with a valid VAPID JWT, decrypted with the subscription's keys. */
  received: PushMessage[];
  /** Requests refused: a bad JWT, a wrong key, or a body that did not decrypt. */
  refused: string[];
  /** Status per path for the next requests (e.g. 410 for a gone subscription). */
  statusFor: Map<string, number>;
  subscribe(path: string): BrowserSubscription;
  waitReceived(count: number, timeoutMs?: number): Promise<PushMessage[]>;
  stop(): Promise<void>;
}

function verifyVapid(header: string | undefined, vapidPublicKey: string): { aud: string; exp: number; sub: string } {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) throw new Error('no vapid authorization');
  if (match[2] !== vapidPublicKey) throw new Error('k is not the application server key');
  const [h, p, s] = match[1].split('.');
  const header64 = JSON.parse(Buffer.from(h, 'base64url').toString());
  if (header64.alg !== 'ES256') throw new Error(`alg ${header64.alg}`);
  const raw = Buffer.from(vapidPublicKey, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) throw new Error('bad ES256 signature');
  return JSON.parse(Buffer.from(p, 'base64url').toString());
}

/** Null when openssl is missing (the caller skips loudly). */
export function makeCertificate(): { key: Buffer; cert: Buffer; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-push-'));
  const result = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  if (result.status !== 0) throw new Error('openssl could not make a certificate');
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), certFile: join(dir, 'cert.pem') };
}

export async function startPushService(vapid: { publicKey: string; subject: string }): Promise<PushService> {
  const { key, cert, certFile } = makeCertificate();
  const browsers = new Map<string, BrowserSubscription>();
  const waiters = new Set<() => void>();
  const handle: PushService = {
    port: 0,
    origin: '',
    agent: new Agent({ ca: cert, keepAlive: true }),
    certFile,
    received: [],
    refused: [],
    statusFor: new Map(),
    subscribe(path) {
      const browser = browserSubscription(`${handle.origin}${path}`);
      browsers.set(path, browser);
      return browser;
    },
    waitReceived: async (count, timeoutMs = 20_000) => {
      await waitUntil(() => handle.received.length >= count, timeoutMs, `${count} push messages (have ${handle.received.length}; refused ${handle.refused.join('; ')})`, waiters);
      return handle.received;
    },
    stop: () => new Promise<void>((resolve) => {
      handle.agent.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = createHttpsServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const status = handle.statusFor.get(path);
      if (status !== undefined) return void res.writeHead(status).end();
      try {
        const jwt = verifyVapid(req.headers.authorization, vapid.publicKey);
        if (jwt.aud !== handle.origin) throw new Error(`aud ${jwt.aud}`);
        const nowSec = Date.now() / 1000;
        if (!(jwt.exp > nowSec && jwt.exp <= nowSec + 24 * 3600)) throw new Error(`exp ${jwt.exp}`);
        if (jwt.sub !== vapid.subject) throw new Error(`sub ${jwt.sub}`);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('not aes128gcm');
        const browser = browsers.get(path);
        if (!browser) return void res.writeHead(404).end();
        const payload = JSON.parse(browser.decrypt(Buffer.concat(chunks)));
        handle.received.push({ path, headers: req.headers, jwt, payload });
        for (const wake of waiters) wake();
        res.writeHead(201).end();
      } catch (error) {
        handle.refused.push((error as Error).message);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  handle.port = (server.address() as AddressInfo).port;
  handle.origin = `https://127.0.0.1:${handle.port}`;
  return handle;
}
