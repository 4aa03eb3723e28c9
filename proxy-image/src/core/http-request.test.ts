import { describe, expect, test } from '@jest/globals';
import { normalizePath, normalizeTarget } from './http-request.ts';

describe('normalizePath (RFC 3986 remove_dot_segments, %2e read as a dot)', () => {
  test.each([
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/public/.%2e/admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/b/../../../c', '/c'],
    ['//a/../b', '//b'],
    ['/echo\\..\\counters', '/counters'],
    ['/delay/..\\..\\counters', '/counters'],
    ['/a\\b', '/a/b'],
  ])('%s is %s', (raw, normal) => {
    expect(normalizePath(raw)).toBe(normal);
  });

  test.each([
    '/',
    '/api/v1/cart',
    '/static/app.min.js',
    '/a/.hidden/b',
    '/a/..b/c',
    '/a%2Fb/c',
    '/files/report%2etxt',
    '/a/%2e%2e%2e/b',
    '*',
    'http://example.com/a/../b',
  ])('%s is left as it is', (raw) => {
    expect(normalizePath(raw)).toBe(raw);
  });

  test('the same string comes back when nothing changes (no allocation on the hot path)', () => {
    const p = '/api/v1/items/42';
    expect(normalizePath(p)).toBe(p);
  });
});

describe('normalizeTarget', () => {
  test('normalizes the path and keeps the query and fragment byte for byte', () => {
    expect(normalizeTarget('/a/../b?x=/../y#/..')).toBe('/b?x=/../y#/..');
    const t = '/plain?q=1';
    expect(normalizeTarget(t)).toBe(t);
  });
});
