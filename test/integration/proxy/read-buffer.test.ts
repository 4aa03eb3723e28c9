// adoptSocket on real accepted sockets: the opaque TCP relay and HTTP/1 sessions move a client socket's reads
// into a buffer of their own through net.Socket fields Node does not document, so this pins down that the
// Node we ship still has them (adoption returns non-null) and that nothing read before or after the switch is
// lost or reordered.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, expect, test } from '@jest/globals';
import { adoptSocket } from '../../../proxy-image/src/forward/read-buffer.ts';
import { listenLoopback, waitFor } from './harness.ts';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A connected pair on loopback: [the accepted socket, paused, as detection leaves it; the client]. */
async function pair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  const port = await listenLoopback(server);
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect({ port, host: '127.0.0.1' });
  const s = await accepted;
  s.pause();
  cleanup.push(() => {
    client.destroy();
    s.destroy();
    server.close();
  });
  return [s, client];
}

/** Waits until `f` holds (harness.waitFor wants a value, not a boolean). */
const until = (what: string, f: () => boolean): Promise<true> =>
  waitFor(what, () => (f() ? true : undefined));

test('bytes buffered before adoption come first, later reads reach onData in order, then end', async () => {
  const [s, client] = await pair();
  // Read in the ordinary way first, as protocol detection does, and leave some of it buffered.
  s.resume();
  client.write('first ');
  await new Promise((r) => s.once('data', r));
  s.pause();
  client.write('buffered ');
  await until('bytes held in the Readable buffer', () => s.readableLength > 0);

  // Non-null: the Node we ship has the fields adoption needs.
  const adopted = adoptSocket(s, 8);
  expect(adopted).not.toBeNull();
  expect(adopted?.buffered?.toString()).toBe('buffered ');
  const seen: string[] = [];
  adopted!.reads.onData = (chunk) => {
    seen.push(chunk.toString()); // a view of the reused buffer: copied out before the next read
  };
  const ended = new Promise((r) => s.once('end', r));
  s.resume();
  client.end('then more than one 8-byte buffer holds');
  await ended;
  expect(seen.join('')).toBe('then more than one 8-byte buffer holds');
  expect(seen.length).toBeGreaterThan(1);
});

test('returning false stops reading until resume(); nothing is lost', async () => {
  const [s, client] = await pair();
  const { reads } = adoptSocket(s, 4)!;
  let got = '';
  let stops = 0;
  reads.onData = (chunk) => {
    got += chunk.toString();
    stops++;
    return false;
  };
  s.resume();
  client.write('abcdefgh');
  await until('the first read', () => got.length > 0);
  // Stopped after one read: no more arrive while paused.
  await new Promise((r) => setTimeout(r, 50));
  expect(got).toBe('abcd');
  reads.onData = (chunk) => {
    got += chunk.toString();
  };
  s.resume();
  await until('the rest after resume()', () => got.length === 8);
  expect(got).toBe('abcdefgh');
  expect(stops).toBe(1);
});

test('a socket that already ended is not adopted', async () => {
  const [s, client] = await pair();
  s.resume();
  client.end();
  await new Promise((r) => s.once('end', r));
  expect(adoptSocket(s, 8)).toBeNull();
});

test('a TLS socket is not adopted: its reads go through TLSWrap', async () => {
  const [, client] = await pair();
  const secure = new tls.TLSSocket(client);
  cleanup.push(() => secure.destroy());
  expect(adoptSocket(secure, 8)).toBeNull();
});
