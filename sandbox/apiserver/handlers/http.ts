/** Small HTTP helpers shared by the handlers: bodies in, JSON out, errors as Status. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from '../errors.ts';

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

/**
 * The body as text, at most `maxBytes`. Past the cap it rejects with 413 and stops keeping
 * bytes; the connection is closed after the reply (`Connection: close`) rather than destroyed
 * at once, so the client can read the 413.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
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
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A create/update body: JSON, or YAML when the client says so. */
export function parseObjectBody(raw: string, contentType: string | undefined): any {
  if (/protobuf|cbor/i.test(contentType ?? '')) {
    throw new ApiError(415, 'UnsupportedMediaType', `the sandbox API server accepts JSON and YAML bodies only, not ${contentType} (with kubectl, use apply/create -f)`);
  }
  if (raw.trim() === '') throw badRequest('the request body is empty');
  try {
    return /yaml/i.test(contentType ?? '') ? parseYaml(raw) : JSON.parse(raw);
  } catch (error) {
    throw badRequest(`the request body could not be decoded: ${(error as Error).message}`);
  }
}
