/**
 * The notification routes of the server API (API key; docs/notifications.md). http-api.ts
 * checks the key and reads bodies; this maps paths to the notifier.
 *
 *   POST   /v1/notify                         send
 *   GET    /v1/notify/dead-letters?limit=N    the newest dead letters
 *   GET    /v1/users/{sub}/notify             a user's channel settings
 *   PATCH  /v1/users/{sub}/notify             change email and preferences
 *   POST   /v1/users/{sub}/push               register a push subscription
 *   DELETE /v1/users/{sub}/push/{id}          remove one
 *   PUT    /v1/users/{sub}/follows/{room}     follow a room's notifications
 *   DELETE /v1/users/{sub}/follows/{room}     stop following
 */
import type { IncomingMessage } from 'node:http';
import { gatewayError } from '../errors.ts';
import { validateRoom } from '../rooms.ts';
import type { Notifier } from './notifier.ts';
import { settingsView } from './views.ts';

export interface NotifyHttpReply {
  status: number;
  body: unknown;
}

const userRoute = /^\/v1\/users\/([^/]+)\/(notify|push|follows)(?:\/([^/]+))?$/;

export function isNotifyPath(path: string): boolean {
  return path === '/v1/notify' || path === '/v1/notify/dead-letters' || userRoute.test(path);
}

function decode(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw gatewayError('BAD_REQUEST', `${what} is not valid percent-encoding`);
  }
}

function methodNotAllowed(allowed: string): never {
  throw gatewayError('METHOD_NOT_ALLOWED', `use ${allowed}`);
}

/** Serves a path for which isNotifyPath is true; `readBody` reads the JSON body within the gateway's limits. */
export async function serveNotifyHttp(notifier: Notifier, req: IncomingMessage, url: URL, readBody: () => Promise<unknown>, maxRoomNameLength: number): Promise<NotifyHttpReply> {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (path === '/v1/notify') {
    if (method !== 'POST') methodNotAllowed('POST');
    return { status: 202, body: await notifier.send(await readBody()) };
  }
  if (path === '/v1/notify/dead-letters') {
    if (method !== 'GET') methodNotAllowed('GET');
    const raw = url.searchParams.get('limit') ?? '100';
    const limit = Number(raw);
    if (!/^\d+$/.test(raw) || limit < 1 || limit > 1000) throw gatewayError('BAD_REQUEST', 'limit must be an integer between 1 and 1000');
    return { status: 200, body: { deadLetters: await notifier.deadLetters(limit) } };
  }
  const [, rawUser, kind, rawItem] = userRoute.exec(path)!;
  const user = decode(rawUser, 'user');
  if (kind === 'notify' && rawItem === undefined) {
    if (method === 'GET') return { status: 200, body: settingsView(await notifier.settingsOf(user)) };
    if (method === 'PATCH') return { status: 200, body: settingsView(await notifier.updateSettings(user, await readBody())) };
    methodNotAllowed('GET or PATCH');
  }
  if (kind === 'push' && rawItem === undefined) {
    if (method !== 'POST') methodNotAllowed('POST');
    return { status: 201, body: await notifier.addPush(user, await readBody()) };
  }
  if (kind === 'push') {
    if (method !== 'DELETE') methodNotAllowed('DELETE');
    return { status: 200, body: await notifier.removePush(user, decode(rawItem, 'id')) };
  }
  if (kind === 'follows' && rawItem !== undefined) {
    const room = validateRoom(decode(rawItem, 'room'), maxRoomNameLength);
    if (method === 'PUT') await notifier.follow(user, room);
    else if (method === 'DELETE') await notifier.unfollow(user, room);
    else methodNotAllowed('PUT or DELETE');
    return { status: 200, body: { user, room, following: method === 'PUT' } };
  }
  throw gatewayError('NOT_FOUND', 'no such route');
}
