// The SO_ORIGINAL_DST addon against real iptables REDIRECT rules in a network namespace of our own.

import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createNetns, type TestNetns } from './netns.ts';

let ns: TestNetns;

beforeAll(async () => {
  execFileSync('proxy-image/native/build.sh');
  ns = await createNetns('odst');
  // Destinations that exist only inside this namespace, on a veth pair with both ends in it.
  await ns.exec('ip', ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
  await ns.exec('ip', ['link', 'set', 'd1', 'up']);
  await ns.exec('ip', ['addr', 'add', '10.251.0.1/24', 'dev', 'd0']);
  await ns.exec('ip', ['-6', 'addr', 'add', 'fd99::1/64', 'dev', 'd0', 'nodad']);
  await ns.exec('ip', ['link', 'set', 'd0', 'up']);
  await ns.exec('iptables', [
    '-t',
    'nat',
    '-A',
    'OUTPUT',
    '-p',
    'tcp',
    '-d',
    '10.251.0.0/24',
    '-j',
    'REDIRECT',
    '--to-ports',
    '15101',
  ]);
  await ns.exec('ip6tables', [
    '-t',
    'nat',
    '-A',
    'OUTPUT',
    '-p',
    'tcp',
    '-d',
    'fd99::/64',
    '-j',
    'REDIRECT',
    '--to-ports',
    '15101',
  ]);
}, 60_000);

afterAll(async () => {
  await ns?.remove();
});

test('recovers the original IPv4 and IPv6 destinations, and none for a direct connection', async () => {
  const out = await ns.exec(process.execPath, ['test/integration/fixtures/original-dst-probe.ts'], 20_000);
  const results = JSON.parse(out.trim().split('\n').pop() ?? '[]');
  expect(results).toEqual([
    { address: '10.251.0.99', port: 8080, family: 4 },
    { address: 'fd99::99', port: 5432, family: 6 },
    null,
  ]);
}, 30_000);
