import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { formatPortRanges, parsePort, parsePortRanges, parseSubnets } from './net-lists.ts';

test('ports: decimal 1-65535 only', () => {
  expect(parsePort('1')).toBe(1);
  expect(parsePort('65535')).toBe(65535);
  for (const bad of ['0', '65536', '-1', '+80', '8 0', '0x50', '', '123456'])
    expect(parsePort(bad)).toBeUndefined();
});

test('port lists: single ports, inclusive ranges, spaces and empty items ignored', () => {
  expect(parsePortRanges(' 80, 8000-8010,,3306 ')).toEqual({
    ok: true,
    value: [
      { from: 80, to: 80 },
      { from: 8000, to: 8010 },
      { from: 3306, to: 3306 },
    ],
  });
  expect(parsePortRanges('')).toEqual({ ok: true, value: [] });
});

test('port lists: each bad item is named', () => {
  expect(parsePortRanges('80,http')).toEqual({
    ok: false,
    error: '"http" is not a port (1-65535) or a range like 8000-8010',
  });
  expect(parsePortRanges('1-2-3')).toEqual({
    ok: false,
    error: '"1-2-3" is not a port (1-65535) or a range like 8000-8010',
  });
  expect(parsePortRanges('9000-8000')).toEqual({
    ok: false,
    error: 'range "9000-8000" ends before it starts',
  });
  expect(parsePortRanges('80-')).toMatchObject({ ok: false });
  expect(parsePortRanges('0-10')).toMatchObject({ ok: false });
});

test('port lists: formatting and parsing round-trip', () => {
  const range = fc
    .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 100 }))
    .map(([from, w]) => ({ from, to: Math.min(65535, from + w) }));
  fc.assert(
    fc.property(fc.array(range, { maxLength: 6 }), (ranges) => {
      expect(parsePortRanges(formatPortRanges(ranges))).toEqual({ ok: true, value: ranges });
    }),
  );
});

test('subnets: addresses become /32 or /128, CIDRs are kept, bad items are named', () => {
  expect(parseSubnets('10.0.0.0/8, 192.168.1.1,fd00::/8,::1')).toEqual({
    ok: true,
    value: ['10.0.0.0/8', '192.168.1.1/32', 'fd00::/8', '::1/128'],
  });
  for (const bad of [
    '10.0.0.0/33',
    '256.1.1.1',
    '10.0.0',
    'fd00::/129',
    '1::2::3',
    'example.com',
    '10.0.0.0/',
  ]) {
    expect(parseSubnets(`127.0.0.1,${bad}`)).toEqual({
      ok: false,
      error: `"${bad}" is not an IPv4 or IPv6 address or CIDR`,
    });
  }
});
