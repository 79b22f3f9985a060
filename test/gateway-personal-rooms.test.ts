/**
 * Personal rooms: `user:` + the escaped `sub` names exactly one user's room, and no token
 * pattern opens another user's. Users `a` and `a:b` (a sub holding the separator) cannot reach
 * each other's rooms, whatever their tokens say.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { personalRoom, personalRoomOwner, RoomAccess } from '../gateway/rooms.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';

describe('personal rooms', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.close();
  });

  it('users a and a:b each reach their own personal room and never the other’s', async () => {
    // Broad tokens on purpose: `*` and `user:*` patterns must not open reserved names.
    const a = await gw.client('a', { rooms: ['*', 'user:*', 'user:a:*'] });
    const ab = await gw.client('a:b', { rooms: ['*', 'user:*'] });
    const aConnected = a.frames.find((f) => f.op === 'connected')!;
    const abConnected = ab.frames.find((f) => f.op === 'connected')!;
    assert.equal(aConnected.personalRoom, 'user:a');
    assert.equal(abConnected.personalRoom, 'user:a@3Ab');

    assert.equal((await a.request({ op: 'subscribe', room: 'user:a' })).op, 'subscribed');
    assert.equal((await ab.request({ op: 'subscribe', room: 'user:a@3Ab' })).op, 'subscribed');

    for (const op of ['subscribe', 'publish', 'presence', 'history']) {
      // The concatenated spelling of a:b's room is no one's room, and is reserved.
      for (const room of ['user:a@3Ab', 'user:a:b']) assert.equal((await a.request({ op, room, data: 1 })).code, 'FORBIDDEN', `a ${op} ${room}`);
      for (const room of ['user:a', 'user:a:b']) assert.equal((await ab.request({ op, room, data: 1 })).code, 'FORBIDDEN', `a:b ${op} ${room}`);
    }

    // The server API builds the name with the same escape: a notice for a:b reaches a:b only.
    const notice = await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ room: personalRoom('a:b'), data: 'for a:b' }) });
    assert.equal(notice.status, 200);
    await ab.waitFrame((f) => f.op === 'message' && f.data === 'for a:b');
    assert.equal((await a.request({ op: 'publish', room: 'user:a', data: 'for a' })).op, 'published');
    await a.waitFrame((f) => f.op === 'message' && f.data === 'for a');
    assert.equal(a.messages().some((m) => m.data === 'for a:b'), false);
    assert.equal(ab.messages().some((m) => m.data === 'for a'), false);
  });

  it('the escape is reversible, yields valid room names and gives distinct subs distinct rooms', () => {
    const subs = ['a', 'a:b', 'a@3Ab', 'a:', ':a', 'user:a', 'a b', 'é', 'ü:x', '@', '@40', '-_.', '日本', 'a%3Ab', 'x'.repeat(128)];
    const rooms = new Map<string, string>();
    for (const sub of subs) {
      const room = personalRoom(sub);
      assert.match(room, /^user:[A-Za-z0-9_.@-]+$/, sub);
      assert.equal(personalRoomOwner(room), sub, `round trip of ${JSON.stringify(sub)}`);
      assert.equal(rooms.get(room), undefined, `${JSON.stringify(sub)} and ${JSON.stringify(rooms.get(room))} share ${room}`);
      rooms.set(room, sub);
    }
    // Non-canonical spellings name no one: each sub has exactly one room name.
    for (const room of ['user:a:b', 'user:a@2Db', 'user:a@3ab', 'user:@FF', 'user:', 'user:a@3']) assert.equal(personalRoomOwner(room), undefined, room);
    const access = new RoomAccess('a:b', ['*']);
    assert.equal(access.allows('user:a@3Ab'), true);
    assert.equal(access.allows('user:a'), false);
    assert.equal(access.allows('lobby'), true);
  });
});
