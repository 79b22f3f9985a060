/** Small HTTP helpers shared by the handlers: bodies in, JSON out, errors as Status. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from '../errors.ts';
import { checkDecoded } from '../own.ts';
import { decodeProtobuf, isProtobuf } from '../protobuf.ts';

export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.code, error.toStatus(), 'application/json', error.headers);
}

/** The body as text (UTF-8), at most `maxBytes`; see readBodyBytes. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return (await readBodyBytes(req, maxBytes)).toString('utf8');
}

/**
 * The body's bytes, at most `maxBytes`. Past the cap it rejects with 413 and stops keeping
 * bytes; the connection is closed after the reply (`Connection: close`) rather than destroyed
 * at once, so the client can read the 413.
 */
export function readBodyBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than ${maxBytes} bytes`, undefined, { Connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A create/update body: JSON, YAML when the client says so, or protobuf for the kinds
 * protobuf.ts decodes. Every decoded body is checked (no `__proto__` keys, bounded depth)
 * before anything walks it.
 */
export function parseObjectBody(raw: string | Buffer, contentType: string | undefined): any {
  if (isProtobuf(contentType)) {
    const decoded = decodeProtobuf(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'));
    checkDecoded(decoded);
    return decoded;
  }
  if (/cbor/i.test(contentType ?? '')) {
    throw new ApiError(415, 'UnsupportedMediaType', `the sandbox API server accepts JSON, YAML and (for a few kinds) protobuf bodies, not ${contentType}`);
  }
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
  if (text.trim() === '') throw badRequest('the request body is empty');
  const parsed = parseText(text, /yaml/i.test(contentType ?? ''), 'the request body could not be decoded');
  checkDecoded(parsed);
  return parsed;
}

/** JSON or YAML text; a syntax error is a 400 starting with `what`. */
export function parseText(text: string, yaml: boolean, what: string): any {
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    // Deep nesting overflows the YAML parser's stack: still the client's input, still a 400.
    throw badRequest(`${what}: ${(error as Error).message}`);
  }
}
