import { describe, expect, test } from '@jest/globals';
import { ambiguousTarget, normalizePath, normalizeTarget, originForm, requestPath } from './http-request.ts';

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

describe('originForm and requestPath (absolute-form read as the app reads it)', () => {
  test.each([
    ['http://x/public/../admin', '/public/../admin', '/admin'],
    ['HTTP://x:8080/a?q=1', '/a?q=1', '/a'],
    ['http://x', '/', '/'],
    ['http://x?q', '/?q', '/'],
    ['/a/../b', '/a/../b', '/b'],
    ['*', '*', '*'],
  ])('%s is %s, path %s', (raw, origin, path) => {
    expect(originForm(raw)).toBe(origin);
    expect(requestPath(raw)).toBe(path);
  });

  test('normalizeTarget forwards absolute-form as its normalized origin-form', () => {
    expect(normalizeTarget('http://x/public/../admin?q=/..')).toBe('/admin?q=/..');
  });
});

describe('ambiguousTarget (paths app servers read in more than one way)', () => {
  test.each([
    ['/public#/../admin', 'fragment'],
    ['/public/..%2fadmin', 'escapes'],
    ['/public/..%2Fadmin', 'escapes'],
    ['/x/..%5cadmin', 'escapes'],
    ['/a%2fb/../c', 'escapes'],
    ['http://x/public/..%2fadmin', 'escapes'],
    ['/public/..;/admin', 'parameters'],
    ['/public/%2e%2e;x=1/admin', 'parameters'],
    ['/public/.;/admin/..;/x', 'parameters'],
    ['http:/public/../admin', 'form'],
    ['http:admin', 'form'],
    ['x:y', 'form'],
  ])('%s is refused (%s)', (target, why) => {
    const expected = { escapes: '%2F', parameters: '";"', fragment: '"#"', form: 'not a path' }[why]!;
    expect(ambiguousTarget(target, 'GET')).toContain(expected);
  });

  test('"*" only for OPTIONS, an authority only for CONNECT; a "#" in the query is left alone', () => {
    expect(ambiguousTarget('*', 'OPTIONS')).toBeNull();
    expect(ambiguousTarget('*', 'GET')).toContain('not a path');
    expect(ambiguousTarget('db.example:5432', 'CONNECT')).toBeNull();
    expect(ambiguousTarget('db.example:5432', 'GET')).toContain('not a path');
    expect(ambiguousTarget('/search?q=C#', 'GET')).toBeNull();
    expect(ambiguousTarget('/a#b?c', 'GET')).toContain('"#"');
  });

  test.each([
    '/',
    '/api/v1/items?x=%2f..%2f#frag',
    '/projects/group%2Fname/issues',
    '/a;v=1/b',
    '/a/b;c/../d',
    '/files/report%2etxt',
    '/public/../admin',
    'http://x/a/b',
  ])('%s passes', (target) => {
    expect(ambiguousTarget(target, 'GET')).toBeNull();
  });
});
