import { describe, expect, test } from '@jest/globals';
import { ChunkedFramer, LengthFramer } from './body.ts';
import { parseRequestHead, parseResponseHead, responseFraming } from './head.ts';
import { serializeRequestHead, serializeResponseHead } from './serialize.ts';

const limits = { maxHeaderBytes: 1024, maxHeaderCount: 10 };
const req = (s: string) => parseRequestHead(Buffer.from(s, 'latin1'), 0, limits);
const errorCode = (s: string) => {
  const r = req(s);
  return r.kind === 'error' ? r.error.code : r.kind;
};

describe('parseRequestHead', () => {
  test('parses a request with its framing facts', () => {
    const r = req('POST /a?b=1 HTTP/1.1\r\nHost: svc:80\r\nContent-Length: 5\r\nX-Y:  v  \r\n\r\nhello');
    expect(r.kind).toBe('head');
    if (r.kind !== 'head') return;
    expect(r.length).toBe(r.length);
    expect(r.head).toMatchObject({
      method: 'POST',
      target: '/a?b=1',
      host: 'svc:80',
      versionMinor: 1,
      contentLength: 5,
      chunked: false,
      connectionClose: false,
      headers: ['Host', 'svc:80', 'Content-Length', '5', 'X-Y', 'v'],
    });
    expect(r.length).toBe(
      Buffer.byteLength('POST /a?b=1 HTTP/1.1\r\nHost: svc:80\r\nContent-Length: 5\r\nX-Y:  v  \r\n\r\n'),
    );
  });

  test('is incomplete until the empty line arrives, at any split point', () => {
    const full = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
    for (let i = 0; i < full.length; i++) expect(req(full.slice(0, i)).kind).toBe('incomplete');
    expect(req(full).kind).toBe('head');
  });

  test('tolerates empty lines before the request line', () => {
    expect(req('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n').kind).toBe('head');
  });

  test.each([
    [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'content-length-with-transfer-encoding',
    ],
    [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
      'conflicting-content-length',
    ],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n', 'bad-content-length'],
    [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\n',
      'conflicting-content-length',
    ],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n', 'bad-content-length'],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n', 'bad-content-length'],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'bad-transfer-encoding'],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 'bad-transfer-encoding'],
    [
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      'bad-transfer-encoding',
    ],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'bad-transfer-encoding'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', 'obs-fold'],
    ['GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'space-before-colon'],
    ['GET / HTTP/1.1\r\nHo(st: a\r\n\r\n', 'bad-header-name'],
    ['GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', 'bare-cr'],
    ['GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', 'bare-lf'],
    ['GET / HTTP/1.1\nHost: a\n\n', 'bare-lf'],
    ['GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n', 'bad-header-value'],
    // Fields Connection names are dropped at the next hop: framing and Host must not be.
    [
      'POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 1\r\n\r\n',
      'bad-header-value',
    ],
    ['POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Transfer-Encoding\r\n\r\n', 'bad-header-value'],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n', 'bad-header-value'],
    ['GET / HTTP/1.1\r\n\r\n', 'missing-host'],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'duplicate-host'],
    [
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n',
      'duplicate-upgrade',
    ],
    ['G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 'bad-method'],
    ['GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 'bad-version'],
    ['GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n', 'bad-target'],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 'unsupported-version'],
    ['GET / HTTX/1.1\r\nHost: a\r\n\r\n', 'bad-version'],
    [' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'bad-start-line'],
  ])('rejects %j as %s', (input, code) => {
    expect(errorCode(input)).toBe(code);
  });

  test('answers 431 for an oversized head and too many fields', () => {
    const big = req(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}\r\n\r\n`);
    expect(big.kind === 'error' && big.error.status).toBe(431);
    const partial = req(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}`);
    expect(partial.kind === 'error' && partial.error.code).toBe('head-too-large');
    const many = req(`GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(10)}\r\n`);
    expect(many.kind === 'error' && many.error.status).toBe(431);
  });

  test('HTTP/1.0 closes by default and keeps alive when asked', () => {
    const a = req('GET / HTTP/1.0\r\n\r\n');
    const b = req('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    expect(a.kind === 'head' && a.head.connectionClose).toBe(true);
    expect(b.kind === 'head' && b.head.connectionClose).toBe(false);
  });

  test('recognises upgrade and 100-continue', () => {
    const r = req(
      'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(r.kind === 'head' && [r.head.upgrade, r.head.expectContinue]).toEqual(['websocket', true]);
  });

  test('two Upgrade fields fail only a request that upgrades; a response or a non-upgrading request keeps them', () => {
    const plain = req('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n');
    expect(plain.kind === 'head' && plain.head.upgrade).toBeNull();
    const r = parseResponseHead(
      Buffer.from(
        'HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.2\r\nUpgrade: HTTP/2.0\r\nContent-Length: 0\r\n\r\n',
      ),
      0,
      limits,
    );
    expect(r.kind === 'head' && r.head.status).toBe(426);
  });

  test('never takes an h2c upgrade: the request goes on as HTTP/1.1 without its upgrade fields', () => {
    for (const offer of ['h2c', 'H2C', 'websocket, h2c']) {
      const r = req(
        `GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${offer}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-App: 1\r\n\r\n`,
      );
      if (r.kind !== 'head') throw new Error('expected a head');
      expect(r.head.upgrade).toBeNull();
      expect(serializeRequestHead(r.head, { dropClientId: false, extra: null, hostFallback: 'x' })).toBe(
        'GET / HTTP/1.1\r\nHost: a\r\nX-App: 1\r\n\r\n',
      );
    }
  });
});

describe('parseResponseHead and framing', () => {
  const res = (s: string) => parseResponseHead(Buffer.from(s, 'latin1'), 0, limits);
  test('parses status lines with and without reason', () => {
    const a = res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const b = res('HTTP/1.1 204\r\n\r\n');
    expect(a.kind === 'head' && [a.head.status, a.head.reason, responseFraming('GET', a.head)]).toEqual([
      200,
      'OK',
      'length',
    ]);
    expect(b.kind === 'head' && [b.head.status, responseFraming('GET', b.head)]).toEqual([204, 'none']);
  });
  test('refuses a response whose Connection names a framing field (the next hop would drop it)', () => {
    for (const named of ['content-length', 'Transfer-Encoding']) {
      const r = res(`HTTP/1.1 200 OK\r\nConnection: ${named}\r\nContent-Length: 2\r\n\r\nok`);
      expect(r.kind === 'error' && r.error.code).toBe('bad-header-value');
    }
  });
  test('frames by method and status', () => {
    const r = res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    const c = res('HTTP/1.1 200 OK\r\n\r\n');
    expect(r.kind === 'head' && responseFraming('HEAD', r.head)).toBe('none');
    expect(r.kind === 'head' && responseFraming('GET', r.head)).toBe('chunked');
    expect(c.kind === 'head' && responseFraming('GET', c.head)).toBe('close');
    expect(c.kind === 'head' && responseFraming('CONNECT', c.head)).toBe('tunnel');
  });
  test('rejects smuggling-prone responses', () => {
    const r = res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(r.kind === 'error' && r.error.code).toBe('content-length-with-transfer-encoding');
    expect(res('HTTP/1.1 2x0 OK\r\n\r\n').kind).toBe('error');
  });
});

describe('body framers', () => {
  test('chunked: finds the end across arbitrary splits, with extensions and trailers', () => {
    const body = Buffer.from('5;x=y\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\nNEXT');
    const end = body.length - 4;
    for (let split = 0; split <= body.length; split++) {
      const f = new ChunkedFramer(1024, 10);
      const data: string[] = [];
      const onData = (b: Buffer, s: number, e: number) => data.push(b.toString('latin1', s, e));
      const first = f.consume(body, 0, split, onData);
      const at = first >= 0 ? first : f.consume(body, split, body.length, onData);
      expect(at).toBe(end);
      expect(data.join('')).toBe('helloabcdefghijklmnopqrstuvwxyz');
    }
  });
  test.each([
    ['x\r\n'],
    ['5\r\nhelloX\r\n'],
    ['5\nhello\r\n'],
    ['0\r\nBad Trailer\r\n\r\n'],
    ['ffffffffffffffff\r\n'],
    ['10000000000000\r\n'],
    ['5 \r\nhello\r\n0\r\n\r\n'],
  ])('chunked: rejects %j', (s) => {
    const f = new ChunkedFramer(1024, 10);
    expect(f.consume(Buffer.from(s), 0, s.length)).toBe(-2);
    expect(f.error).not.toBeNull();
  });
  test('chunked: a forbidden trailer (the client identity, inbound) fails the body, in any case and split', () => {
    const body = '1\r\na\r\n0\r\nX-Other: 1\r\nX-Weft-Client-Id: spiffe://evil/ns/x/sa/y\r\n\r\n';
    for (let split = 0; split <= body.length; split++) {
      const f = new ChunkedFramer(1024, 10, 'x-weft-client-id');
      const b = Buffer.from(body);
      const first = f.consume(b, 0, split);
      const at = first === -1 ? f.consume(b, split, b.length) : first;
      expect([split, at, f.error]).toEqual([split, -2, 'forbidden-trailer']);
    }
    // Without the restriction, or with a name that only starts the same, it is a trailer like any other.
    expect(new ChunkedFramer(1024, 10).consume(Buffer.from(body), 0, body.length)).toBe(body.length);
    const underscores = '0\r\nX_Weft_Client_Id: spiffe://evil/ns/x/sa/y\r\n\r\n';
    const g = new ChunkedFramer(1024, 10, 'x-weft-client-id');
    expect([g.consume(Buffer.from(underscores), 0, underscores.length), g.error]).toEqual([
      -2,
      'forbidden-trailer',
    ]);
    const similar = '0\r\nx-weft-client-idx: 1\r\nx-weft-client: 1\r\n\r\n';
    expect(
      new ChunkedFramer(1024, 10, 'x-weft-client-id').consume(Buffer.from(similar), 0, similar.length),
    ).toBe(similar.length);
  });
  test('content-length', () => {
    const f = new LengthFramer(3);
    expect(f.consume(Buffer.from('ab'), 0, 2)).toBe(-1);
    expect(f.consume(Buffer.from('cde'), 0, 3)).toBe(1);
    expect(f.done).toBe(true);
  });
});

describe('serialize', () => {
  test('drops hop-by-hop fields and adds the mesh header', () => {
    const r = req(
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nx-weft-client-id: forged\r\nX-App: 2\r\n\r\n',
    );
    if (r.kind !== 'head') throw new Error('expected a head');
    const out = serializeRequestHead(r.head, {
      dropClientId: true,
      extra: ['x-weft-client-id', 'spiffe://t/ns/a/sa/b'],
      hostFallback: 'x',
    });
    expect(out).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-App: 2\r\nx-weft-client-id: spiffe://t/ns/a/sa/b\r\n\r\n',
    );
  });
  test('drops the mesh header in any spelling an app server reads as it (case, "_" for "-")', () => {
    const r = req(
      'GET / HTTP/1.1\r\nHost: a\r\nX_Weft_Client_Id: forged\r\nx-weft_client-ID: forged\r\nX-Weft-Client-Idx: kept\r\n\r\n',
    );
    if (r.kind !== 'head') throw new Error('expected a head');
    expect(serializeRequestHead(r.head, { dropClientId: true, extra: null, hostFallback: 'x' })).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Weft-Client-Idx: kept\r\n\r\n',
    );
    // Outbound (dropClientId false) the app's own fields pass as they are.
    expect(serializeRequestHead(r.head, { dropClientId: false, extra: null, hostFallback: 'x' })).toContain(
      'X_Weft_Client_Id: forged',
    );
  });
  test("TE is the client hop's: dropped, except that accepting trailers is said again to the next hop", () => {
    const out = (te: string[], connection = 'Connection: TE\r\n', extra = '') => {
      const fields = te.map((v) => `TE: ${v}\r\n`).join('');
      const r = req(`GET / HTTP/1.1\r\nHost: a\r\n${fields}${connection}X-App: 1\r\n${extra}\r\n`);
      if (r.kind !== 'head') throw new Error('expected a head');
      return serializeRequestHead(r.head, { dropClientId: false, extra: null, hostFallback: 'x' });
    };
    const plain = 'GET / HTTP/1.1\r\nHost: a\r\nX-App: 1\r\n\r\n';
    const withTrailers = 'GET / HTTP/1.1\r\nHost: a\r\nX-App: 1\r\nte: trailers\r\nconnection: te\r\n\r\n';
    expect(out(['gzip, deflate;q=0.5'])).toBe(plain);
    // A client that did not name TE in Connection (before: forwarded as it came).
    expect(out(['gzip, deflate;q=0.5'], '')).toBe(plain);
    expect(out(['trailers'])).toBe(withTrailers);
    expect(out(['trailers'], '')).toBe(withTrailers);
    expect(out(['gzip;q=0.5', ' Trailers '])).toBe(withTrailers);
    expect(out(['trailersx'])).toBe(plain);
    // Upgrading: both connection options.
    expect(out(['trailers'], 'Connection: Upgrade, TE\r\n', 'Upgrade: websocket\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-App: 1\r\nte: trailers\r\nupgrade: websocket\r\nconnection: upgrade, te\r\n\r\n',
    );
  });
  test('adds Host for HTTP/1.0 and keeps upgrade fields when upgrading', () => {
    const r = req('GET / HTTP/1.0\r\n\r\n');
    if (r.kind !== 'head') throw new Error('expected a head');
    expect(
      serializeRequestHead(r.head, {
        dropClientId: false,
        extra: null,
        hostFallback: '10.0.0.1:80',
      }).toString(),
    ).toBe('GET / HTTP/1.1\r\nhost: 10.0.0.1:80\r\n\r\n');
    const res = parseResponseHead(
      Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
      0,
      limits,
    );
    if (res.kind !== 'head') throw new Error('expected a head');
    expect(
      serializeResponseHead(res.head, { close: false, keepAlive10: false, dechunk: false }).toString(),
    ).toBe('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nconnection: upgrade\r\n\r\n');
  });
});
