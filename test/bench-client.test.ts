/**
 * The load generator's WebSocket client (BenchSocket + FrameReader) against a real `ws` server on
 * loopback: the frame shapes the benchmarked servers do not send in the fan-out smoke test
 * (fragments, 16- and 64-bit lengths, pings, server-initiated closes, refused upgrades), and
 * frames split at every byte boundary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { BenchSocket } from '../bench/clients/bench-socket.ts';
import { FrameReader } from '../bench/clients/frame-reader.ts';
import { waitFor } from './helpers/net.ts';

const MAX_PAYLOAD = 1024 * 1024;
const TIMEOUT_MS = 5_000;

interface Harness {
  url: string;
  server: Server;
  connections: WebSocket[];
  close(): Promise<void>;
}

async function startServer(): Promise<Harness> {
  const server = createServer((_request, response) => response.writeHead(404).end('not here'));
  const wss = new WebSocketServer({ server, path: '/ws' });
  const connections: WebSocket[] = [];
  wss.on('connection', (ws) => connections.push(ws));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return {
    url: `ws://127.0.0.1:${address.port}/ws`,
    server,
    connections,
    close: async () => {
      for (const ws of connections) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function client(url: string, received: string[], problems: string[]): Promise<BenchSocket> {
  return BenchSocket.open(url, {
    maxPayloadBytes: MAX_PAYLOAD,
    timeoutMs: TIMEOUT_MS,
    onMessage: (data) => received.push(data.toString('utf8')),
    onProblem: (code) => problems.push(code),
  });
}

test('bench client receives small, 16-bit, 64-bit and fragmented messages and echoes commands in order', async () => {
  const harness = await startServer();
  try {
    const received: string[] = [];
    const problems: string[] = [];
    const socket = await client(harness.url, received, problems);
    const server = await waitFor(() => harness.connections[0], { what: 'server side of the connection' });
    const fromClient: string[] = [];
    server.on('message', (data) => fromClient.push(String(data)));

    const medium = 'm'.repeat(300);
    const large = 'l'.repeat(70_000);
    server.send('small');
    server.send(medium);
    server.send(large);
    server.send('frag-', { fin: false });
    server.send('ment', { fin: true });
    socket.send('hello');
    socket.send('é'.repeat(200));

    await waitFor(() => received.length === 4 && fromClient.length === 2, { what: 'all messages both ways' });
    assert.deepEqual(received, ['small', medium, large, 'frag-ment']);
    assert.deepEqual(fromClient, ['hello', 'é'.repeat(200)]);
    assert.deepEqual(problems, []);
    await socket.close();
  } finally {
    await harness.close();
  }
});

test('bench client answers pings and reports the close code the server chose', async () => {
  const harness = await startServer();
  try {
    const socket = await client(harness.url, [], []);
    const server = await waitFor(() => harness.connections[0], { what: 'server side of the connection' });
    const pong = new Promise<string>((resolve) => server.once('pong', (data) => resolve(String(data))));
    server.ping('are-you-there');
    assert.equal(await pong, 'are-you-there');

    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    const serverClosed = new Promise<number>((resolve) => server.once('close', resolve));
    server.close(4008, 'slow consumer');
    assert.equal(await closed, 4008);
    assert.equal(await serverClosed, 4008, 'the client echoed the close code');
  } finally {
    await harness.close();
  }
});

test('bench client refuses a server that does not upgrade, with BENCH_CLIENT_FAILED', async () => {
  const harness = await startServer();
  try {
    await assert.rejects(client(harness.url.replace('/ws', '/nothing'), [], []), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'BENCH_CLIENT_FAILED');
      assert.match(error.message, /upgrade refused: HTTP\/1\.1 (404|400)/);
      return true;
    });
  } finally {
    await harness.close();
  }
});

test('frame reader reassembles frames split at every byte and stops at a close frame, handing it back', () => {
  const frame = (opcode: number, payload: Buffer, fin = true) => {
    const length = payload.length;
    const header = length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, length]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 126, length >> 8, length & 0xff]);
    return Buffer.concat([header, payload]);
  };
  const stream = Buffer.concat([
    frame(0x1, Buffer.from('one')),
    frame(0x9, Buffer.from('ping')),
    frame(0x1, Buffer.from('x'.repeat(200))),
    frame(0x1, Buffer.from('par'), false),
    frame(0x0, Buffer.from('ts')),
    frame(0x8, Buffer.from([0x03, 0xe8])),
    Buffer.from('after close'),
  ]);
  const messages: string[] = [];
  const pings: string[] = [];
  let rest: Buffer | undefined;
  const reader = new FrameReader(
    {
      message: (data) => messages.push(data.toString()),
      ping: (data) => pings.push(data.toString()),
      closed: (bytes) => {
        rest = Buffer.from(bytes);
      },
      failed: (code) => assert.fail(`unexpected failure ${code}`),
    },
    MAX_PAYLOAD,
  );
  // One byte per chunk, each chunk in a buffer that is overwritten right after (as reads reuse memory).
  const scratch = Buffer.alloc(1);
  for (const byte of stream) {
    scratch[0] = byte;
    reader.push(scratch);
    scratch[0] = 0;
  }
  assert.deepEqual(messages, ['one', 'x'.repeat(200), 'parts']);
  assert.deepEqual(pings, ['ping']);
  assert.deepEqual(rest?.subarray(0, 4), Buffer.from([0x88, 0x02, 0x03, 0xe8]));
});

test('frame reader rejects masked and oversized frames with stable codes', () => {
  const failures: string[] = [];
  const sink = { message: () => assert.fail('no message expected'), ping: () => {}, closed: () => {}, failed: (code: string) => failures.push(code) };
  new FrameReader(sink, MAX_PAYLOAD).push(Buffer.from([0x81, 0x83, 1, 2, 3, 4, 5, 6, 7]));
  new FrameReader(sink, 100).push(Buffer.from([0x81, 126, 0x01, 0x00]));
  assert.deepEqual(failures, ['BAD_FRAME', 'FRAME_TOO_BIG']);
});
