/**
 * A request target that the HTTP parser accepts but `new URL` refuses (`GET //[`) is a 400 for
 * plain requests and upgrades alike, and the gateway keeps serving: one such request from
 * anyone, without a key, used to throw out of the request handler and end the process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { rawStatusLine } from './helpers/net.ts';


const upgradeHeaders = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

describe('gateway request targets', () => {
  let gw: TestGateway;
  const uncaught: Error[] = [];
  const onUncaught = (error: Error) => uncaught.push(error);
  before(async () => {
    process.on('uncaughtException', onUncaught);
    gw = await startGateway();
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await gw.close();
  });

  it('answers an unparseable request target with 400 and keeps serving', async () => {
    for (const target of ['//[', 'http://[/v1/ws']) {
      assert.match(await rawStatusLine(gw.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 400 /, target);
      assert.match(await rawStatusLine(gw.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${upgradeHeaders}\r\n`), /^HTTP\/1\.1 400 /, `upgrade ${target}`);
    }
    assert.deepEqual(uncaught.map((e) => e.message), []);
    assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
  });
});
