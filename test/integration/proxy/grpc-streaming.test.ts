// gRPC client streaming and bidirectional streaming through an mTLS pair of proxies (h2 from the client to the
// client proxy, h2 over mTLS between the proxies, h2c to the app), as grpc.test.ts sets it up: concurrent bidi
// calls on one connection each get exactly their own replies, in order, whether they alternate message by
// message or write in bursts; a bidi call the server ends with a non-OK status gets that status (and its
// neighbours carry on); a client stream of many messages gets its one aggregated reply.

import {
  type ClientDuplexStream,
  type ClientWritableStream,
  credentials,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { CountersSnapshot } from '../../apps/testapp/src/counters.ts';
import { type EchoReply, type EchoRequest, loadEchoService } from '../../apps/testapp/src/grpc-echo.ts';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  curl,
  makePki,
  metric,
  PAIR_CLIENT,
  type Pki,
  type ProxyProcess,
  removeTmpDirs,
  startMeshPair,
} from './harness.ts';

let app: TestApp;
let pki: Pki;
let server: ProxyProcess;
let client: ProxyProcess;
// biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
let echo: any;

const CLIENT = PAIR_CLIENT;
const AUTHORITY = 'grpc.test.svc.cluster.local:8081';

beforeAll(async () => {
  app = await startTestApp({ logLevel: 'silent' });
  pki = makePki();
  ({ server, client } = await startMeshPair({
    pki,
    appPort: app.grpcPort,
    service: { name: 'grpc', clusterIP: '10.96.0.20', port: 8081, protocol: 'grpc' },
  }));
  const { Client } = loadEchoService();
  echo = new Client(`127.0.0.1:${client.outbound}`, credentials.createInsecure(), {
    'grpc.default_authority': AUTHORITY,
  });
}, 60_000);

afterAll(async () => {
  echo?.close();
  await Promise.all([client?.stop(), server?.stop()]);
  await app?.close();
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

/** A bidi call whose replies queue up until read, with its final status (or error). */
interface Bidi {
  readonly call: ClientDuplexStream<Partial<EchoRequest>, EchoReply>;
  /** The next reply, or null once the call has ended (with a status, see `status`). */
  next(): Promise<EchoReply | null>;
  /** Every reply received so far, in order. */
  readonly replies: EchoReply[];
  /** The call's end: its status code and details (an error's for a non-OK status). */
  readonly status: Promise<{ code: number; details: string }>;
}

function bidi(): Bidi {
  const call: ClientDuplexStream<Partial<EchoRequest>, EchoReply> = echo.BidiStream();
  const replies: EchoReply[] = [];
  let read = 0;
  let ended = false;
  const waiters: ((r: EchoReply | null) => void)[] = [];
  const wake = () => {
    while (waiters.length > 0 && (read < replies.length || ended)) {
      waiters.shift()!(read < replies.length ? replies[read++]! : null);
    }
  };
  call.on('data', (r: EchoReply) => {
    replies.push(r);
    wake();
  });
  const status = new Promise<{ code: number; details: string }>((resolve) => {
    // 'status' comes for every call; an error (non-OK status) comes too, and must be listened to.
    call.on('error', () => undefined);
    call.on('status', (s: StatusObject) => {
      ended = true;
      wake();
      resolve({ code: s.code, details: s.details });
    });
  });
  return {
    call,
    replies,
    status,
    next: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        wake();
      }),
  };
}

const countersOfApp = async (): Promise<CountersSnapshot> =>
  JSON.parse((await curl([`http://127.0.0.1:${app.httpPort}/counters`])).body);

describe('bidirectional streaming', () => {
  test('concurrent calls, messages alternating call by call and round by round: each call gets exactly its own replies, in order', async () => {
    const CALLS = 8;
    const ROUNDS = 25;
    const calls = Array.from({ length: CALLS }, () => bidi());
    // Each round writes one message on every call, then reads one reply from every call: all the calls stay
    // open together, and each one's requests and replies interleave with the others' on the same connections.
    for (let r = 0; r < ROUNDS; r++) {
      for (const [c, b] of calls.entries()) b.call.write({ message: `call${c}-msg${r}` });
      const got = await Promise.all(calls.map((b) => b.next()));
      expect(got.map((g) => [g?.message, g?.sequence])).toEqual(
        calls.map((_, c) => [`call${c}-msg${r}`, r + 1]),
      );
    }
    for (const b of calls) b.call.end();
    const statuses = await Promise.all(calls.map((b) => b.status));
    expect(statuses.map((s) => s.code)).toEqual(calls.map(() => 0));
    for (const [c, b] of calls.entries()) {
      expect(b.replies.map((r) => r.message)).toEqual(
        Array.from({ length: ROUNDS }, (_, r) => `call${c}-msg${r}`),
      );
      // The app saw the verified client identity on every call.
      expect(new Set(b.replies.map((r) => r.metadata['x-weft-client-id']))).toEqual(new Set([CLIENT]));
    }
  });

  test('concurrent calls writing in bursts, without waiting for replies: each gets all its own replies, in order', async () => {
    const CALLS = 6;
    const MESSAGES = 200;
    const calls = Array.from({ length: CALLS }, () => bidi());
    for (let m = 0; m < MESSAGES; m++) {
      for (const [c, b] of calls.entries()) b.call.write({ message: `burst${c}-${m}-${'x'.repeat(m % 97)}` });
    }
    for (const b of calls) b.call.end();
    const statuses = await Promise.all(calls.map((b) => b.status));
    expect(statuses.map((s) => s.code)).toEqual(calls.map(() => 0));
    for (const [c, b] of calls.entries()) {
      expect(b.replies.map((r) => [r.message, r.sequence])).toEqual(
        Array.from({ length: MESSAGES }, (_, m) => [`burst${c}-${m}-${'x'.repeat(m % 97)}`, m + 1]),
      );
    }
  });

  test('a call the server ends with a non-OK status gets that status after its earlier replies; its neighbour carries on', async () => {
    const before = await metric(client, 'response_total', {
      direction: 'outbound',
      authority: AUTHORITY,
      grpc_status_code: '9',
      classification: 'failure',
    });
    const failing = bidi();
    const neighbour = bidi();
    failing.call.write({ message: 'first' });
    neighbour.call.write({ message: 'n1' });
    expect((await failing.next())?.message).toBe('first');
    expect((await neighbour.next())?.message).toBe('n1');
    // FAILED_PRECONDITION, after one reply, with the call still open from the client's side.
    failing.call.write({ message: 'fail now', statusCode: 9 });
    expect(await failing.status).toEqual({ code: 9, details: 'failing with status 9 as requested' });
    expect(await failing.next()).toBeNull();
    expect(failing.replies.map((r) => r.message)).toEqual(['first']);
    // The other call on the same connections is untouched.
    neighbour.call.write({ message: 'n2' });
    expect((await neighbour.next())?.message).toBe('n2');
    neighbour.call.end();
    expect((await neighbour.status).code).toBe(0);
    expect(neighbour.replies.map((r) => [r.message, r.sequence])).toEqual([
      ['n1', 1],
      ['n2', 2],
    ]);
    // The client proxy classified the failed call by its grpc-status (in the trailers, after a message).
    expect(
      (await metric(client, 'response_total', {
        direction: 'outbound',
        authority: AUTHORITY,
        grpc_status_code: '9',
        classification: 'failure',
      })) - before,
    ).toBe(1);
  });
});

describe('client streaming', () => {
  /** Starts a client-streaming call; resolves with its reply or its error. */
  function clientStream(): {
    call: ClientWritableStream<Partial<EchoRequest>>;
    result: Promise<{ reply: EchoReply } | { error: ServiceError }>;
  } {
    let call!: ClientWritableStream<Partial<EchoRequest>>;
    const result = new Promise<{ reply: EchoReply } | { error: ServiceError }>((resolve) => {
      call = echo.ClientStream((err: ServiceError | null, reply: EchoReply) =>
        resolve(err ? { error: err } : { reply }),
      );
    });
    return { call, result };
  }

  test('N messages in, one aggregated reply', async () => {
    const N = 300;
    const streamsBefore = (await countersOfApp()).grpc.stream;
    const { call, result } = clientStream();
    const messages = Array.from({ length: N }, (_, i) => `m${i}`);
    for (const m of messages) call.write({ message: m });
    call.end();
    const r = await result;
    expect('reply' in r).toBe(true);
    const { reply } = r as { reply: EchoReply };
    expect(reply.sequence).toBe(N);
    expect(reply.message).toBe(messages.join(','));
    expect(reply.metadata['x-weft-client-id']).toBe(CLIENT);
    // One call reached the app.
    expect((await countersOfApp()).grpc.stream - streamsBefore).toBe(1);
  });

  test('several client streams at once, interleaved: each reply aggregates its own messages only', async () => {
    const streams = Array.from({ length: 5 }, () => clientStream());
    for (let i = 0; i < 40; i++)
      for (const [s, { call }] of streams.entries()) call.write({ message: `s${s}.${i}` });
    for (const { call } of streams) call.end();
    const results = await Promise.all(streams.map((s) => s.result));
    expect(results.map((r) => ('reply' in r ? [r.reply.sequence, r.reply.message] : r.error.code))).toEqual(
      streams.map((_, s) => [40, Array.from({ length: 40 }, (_, i) => `s${s}.${i}`).join(',')]),
    );
  });

  test('a client stream the server fails mid-way gets that status', async () => {
    const { call, result } = clientStream();
    call.write({ message: 'one' });
    call.write({ message: 'two', statusCode: 8 });
    const r = await result;
    expect('error' in r ? [r.error.code, r.error.details] : r).toEqual([
      8,
      'failing with status 8 as requested',
    ]);
    call.end();
  });
});
