// proxy-init's rules on real iptables: a "pod" namespace and a "client" namespace joined by a veth
// pair. Listeners in the pod stand in for the proxy (outbound, inbound), its admin port and the app.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { applyRules } from '../../proxy-image/src/init/main.ts';
import { natRules, parseInitArgs } from '../../proxy-image/src/init/rules.ts';
import { createNetns, linkNetns, type TestNetns } from './netns.ts';

const PROXY_UID = 2102;
const args = [
  '--outbound-port=15101',
  '--inbound-port=15106',
  `--proxy-uid=${PROXY_UID}`,
  '--skip-inbound-ports=15190',
  '--skip-outbound-ports=3306',
  '--skip-outbound-subnets=10.252.1.0/24',
];

let pod: TestNetns;
let client: TestNetns;
let listeners: ChildProcess | undefined;
const accepted: { port: number; original: { address: string; port: number } | null }[] = [];

async function connectFrom(ns: TestNetns, host: string, port: number, uid?: number): Promise<string> {
  const node = [process.execPath, 'test/integration/fixtures/connect.ts', host, String(port)];
  const cmd =
    uid === undefined ? node : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...node];
  return (await ns.exec(cmd[0] as string, cmd.slice(1), 10_000)).trim();
}

beforeAll(async () => {
  execFileSync('proxy-image/native/build.sh');
  pod = await createNetns('init-pod');
  client = await createNetns('init-cli');
  const veth = await linkNetns(pod, client, {
    a: ['10.252.0.2/24', 'fd98::2/64'],
    b: ['10.252.0.1/24', '10.252.1.1/24', 'fd98::1/64'],
  });
  await pod.exec('ip', ['route', 'add', '10.252.1.0/24', 'dev', veth.a]);

  // The entry point itself, run inside the pod namespace twice: a restarted init container must
  // leave exactly one set of rules.
  const init = ['proxy-image/src/entry.ts', 'init', ...args];
  await pod.exec(process.execPath, init);
  await pod.exec(process.execPath, init);

  listeners = spawn(
    'ip',
    [
      'netns',
      'exec',
      pod.name,
      process.execPath,
      'test/integration/fixtures/listeners.ts',
      '15101',
      '15106',
      '15190',
      '8080',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    listeners?.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'ready') resolve();
        else accepted.push(JSON.parse(line));
      }
    });
    listeners?.on('exit', (code) => reject(new Error(`listeners exited with ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  listeners?.kill('SIGTERM');
  await pod?.remove();
  await client?.remove();
});

describe('proxy-init rules in a pod network namespace', () => {
  it('installs one set of rules even when run twice', async () => {
    const saved = await pod.exec('iptables-save', ['-t', 'nat']);
    expect(saved.split('\n').filter((l) => l.startsWith('-A PREROUTING'))).toEqual([
      '-A PREROUTING -p tcp -j WEFT-INBOUND',
    ]);
    expect(saved.split('\n').filter((l) => l.startsWith('-A OUTPUT'))).toEqual([
      '-A OUTPUT -p tcp -j WEFT-OUTBOUND',
    ]);
    expect(saved.split('\n').filter((l) => l.startsWith('-A WEFT-OUT-REDIRECT'))).toHaveLength(1);
    expect(saved.split('\n').filter((l) => l.startsWith('-A WEFT-INBOUND'))).toHaveLength(2);
  });

  it('redirects the app outbound connections to the outbound port with the original destination', async () => {
    expect(await connectFrom(pod, '10.252.0.1', 8080)).toBe('hello from 15101');
    expect(accepted.at(-1)).toEqual({
      port: 15101,
      original: { address: '10.252.0.1', port: 8080, family: 4 },
    });
  });

  it('never redirects the proxy itself, skipped ports or skipped subnets', async () => {
    // Nothing listens in the client namespace: a refusal proves the connection went there directly.
    expect(await connectFrom(pod, '10.252.0.1', 8080, PROXY_UID)).toBe('ECONNREFUSED');
    expect(await connectFrom(pod, '10.252.0.1', 3306)).toBe('ECONNREFUSED');
    expect(await connectFrom(pod, '10.252.1.1', 8080)).toBe('ECONNREFUSED');
  });

  it('leaves loopback alone', async () => {
    expect(await connectFrom(pod, '127.0.0.1', 8080)).toBe('hello from 8080');
  });

  it('redirects inbound connections to the inbound port, IPv4 and IPv6, except the admin port', async () => {
    expect(await connectFrom(client, '10.252.0.2', 8080)).toBe('hello from 15106');
    expect(accepted.at(-1)).toEqual({
      port: 15106,
      original: { address: '10.252.0.2', port: 8080, family: 4 },
    });
    expect(await connectFrom(client, 'fd98::2', 8080)).toBe('hello from 15106');
    expect(accepted.at(-1)).toEqual({ port: 15106, original: { address: 'fd98::2', port: 8080, family: 6 } });
    expect(await connectFrom(client, '10.252.0.2', 15190)).toBe('hello from 15190');
  });
});

describe('proxy-init arguments', () => {
  it('names the flag that is wrong', () => {
    const withOutbound = args.map((a) => (a.startsWith('--outbound-port=') ? '--outbound-port=0' : a));
    expect(() => parseInitArgs(withOutbound)).toThrow('--outbound-port: "0" is not a port');
    expect(() => parseInitArgs([...args, '--skip-outbound-subnets=10.0.0.0/33'])).toThrow(
      '--skip-outbound-subnets: "10.0.0.0/33"',
    );
    expect(() => parseInitArgs([...args, '--proxy-uid=0'])).toThrow('--proxy-uid');
    expect(() => parseInitArgs([...args, '--skip-inbound=1'])).toThrow('--skip-inbound: unknown flag');
    expect(() => applyRules(['--inbound-port=1'])).toThrow('--outbound-port, --proxy-uid required');
  });

  it('keeps each family to its own subnets', () => {
    const o = parseInitArgs([...args, '--skip-outbound-subnets=10.9.0.0/16,fd00::/8']);
    expect(natRules(o, 4)).toContain('-d 10.9.0.0/16 -j RETURN');
    expect(natRules(o, 4)).not.toContain('fd00::/8');
    expect(natRules(o, 6)).toContain('-d fd00::/8 -j RETURN');
    expect(natRules(o, 6)).not.toContain('10.9.0.0/16');
  });
});
