import { describe, expect, test } from '@jest/globals';
import type { HttpRequestView } from './http-request.ts';
import { CompiledHttpMatch, CompiledHttpMatches } from './route-match.ts';

function req(method: string, path: string, headers: Record<string, string | string[]> = {}): HttpRequestView {
  return { method, path, header: (n) => headers[n] };
}

describe('CompiledHttpMatch', () => {
  test('empty match matches everything; "*" means any method', () => {
    expect(
      new CompiledHttpMatch({ name: null, pathRegex: null, methods: [], headers: [] }).matches(req('X', '/')),
    ).toBe(true);
    expect(
      new CompiledHttpMatch({ name: null, pathRegex: null, methods: ['*'], headers: [] }).matches(
        req('PATCH', '/'),
      ),
    ).toBe(true);
  });

  test('path (query ignored), method (case-sensitive) and every header must hold', () => {
    const m = new CompiledHttpMatch({
      name: 'm',
      pathRegex: '/api/[a-z]+$',
      methods: ['GET'],
      headers: [
        { name: 'x-env', valueRegex: 'canary' },
        { name: 'user-agent', valueRegex: '.*Android' },
      ],
    });
    const h = { 'x-env': 'canary-1', 'user-agent': 'Mozilla Android' };
    expect(m.matches(req('GET', '/api/items?x=/1', h))).toBe(true);
    expect(m.matches(req('get', '/api/items', h))).toBe(false);
    expect(m.matches(req('GET', '/api/items/1', h))).toBe(false);
    expect(m.matches(req('GET', '/api/items', { 'x-env': 'canary' }))).toBe(false); // header missing
    // Several values are matched joined with ", " (what Node apps and HTTP/2 views see).
    expect(
      m.matches(req('GET', '/api/items', { 'x-env': ['canary-1', 'canary-2'], 'user-agent': 'Android' })),
    ).toBe(true);
    expect(
      m.matches(req('GET', '/api/items', { 'x-env': ['prod', 'canary'], 'user-agent': 'Android' })),
    ).toBe(false);
    // A rule ending in $ holds for the whole field however it was sent: two fields, one joined field, HTTP/2.
    const tenant = new CompiledHttpMatch({
      name: 't',
      pathRegex: '/',
      methods: [],
      headers: [{ name: 'x-tenant', valueRegex: 'acme$' }],
    });
    expect(tenant.matches(req('GET', '/', { 'x-tenant': ['acme', 'evil'] }))).toBe(false);
    expect(tenant.matches(req('GET', '/', { 'x-tenant': 'acme, evil' }))).toBe(false);
    expect(tenant.matches(req('GET', '/', { 'x-tenant': ['acme'] }))).toBe(true);
    expect(tenant.matches(req('GET', '/', { 'x-tenant': 'acme' }))).toBe(true);
  });

  test('matches are ORed and the first one is reported', () => {
    const ms = new CompiledHttpMatches([
      { name: 'a', pathRegex: '/a', methods: [], headers: [] },
      { name: 'b', pathRegex: '/', methods: [], headers: [] },
    ]);
    expect(ms.find(req('GET', '/a/x'))?.name).toBe('a');
    expect(ms.find(req('GET', '/b'))?.name).toBe('b');
    expect(new CompiledHttpMatches([]).matches(req('GET', '/'))).toBe(false);
  });
});
