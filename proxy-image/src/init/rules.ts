// proxy-init's iptables rules, as iptables-restore input, from its arguments. Pure: the entry point
// (main.ts) only runs iptables-restore with this text.
//
// Inbound:  every TCP connection arriving at the pod is redirected to the proxy's inbound port,
//           except skipped ports (always the admin port) and skipped source subnets.
// Outbound: every TCP connection the pod opens is redirected to the outbound port, except the
//           proxy's own (by uid), loopback, skipped ports and skipped destination subnets.

import {
  type ListResult,
  type PortRange,
  parsePort,
  parsePortRanges,
  parseSubnets,
} from '../../../crds/net-lists.ts';

export interface InitOptions {
  outboundPort: number;
  inboundPort: number;
  proxyUid: number;
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  skipInboundSubnets: string[];
  skipOutboundSubnets: string[];
}

export const CHAINS = {
  inbound: 'WEFT-INBOUND',
  inboundRedirect: 'WEFT-IN-REDIRECT',
  outbound: 'WEFT-OUTBOUND',
  outboundRedirect: 'WEFT-OUT-REDIRECT',
} as const;

/** The jumps from the built-in chains; main.ts deletes them before re-applying, so reruns are clean. */
export const JUMPS: readonly (readonly string[])[] = [
  ['PREROUTING', '-p', 'tcp', '-j', CHAINS.inbound],
  ['OUTPUT', '-p', 'tcp', '-j', CHAINS.outbound],
];

export class InitArgumentError extends Error {}

function port(text: string, flag: string): number {
  const n = parsePort(text);
  if (n === undefined) throw new InitArgumentError(`${flag}: "${text}" is not a port from 1 to 65535`);
  return n;
}

/** A list flag, parsed by the same code that parsed the annotation it came from (crds/net-lists.ts). */
function list<T>(result: ListResult<T>, flag: string): T[] {
  if (!result.ok) throw new InitArgumentError(`${flag}: ${result.error}`);
  return result.value;
}

/** Parses `--name=value` arguments; unknown flags and missing required ones are errors. */
export function parseInitArgs(argv: readonly string[]): InitOptions {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!match) throw new InitArgumentError(`"${arg}": expected --name=value`);
    values.set(match[1] as string, match[2] as string);
  }
  const known = [
    'outbound-port',
    'inbound-port',
    'proxy-uid',
    'skip-inbound-ports',
    'skip-outbound-ports',
    'skip-inbound-subnets',
    'skip-outbound-subnets',
  ];
  for (const key of values.keys()) {
    if (!known.includes(key))
      throw new InitArgumentError(`--${key}: unknown flag; known: --${known.join(', --')}`);
  }
  const missing = ['outbound-port', 'inbound-port', 'proxy-uid'].filter((k) => !values.has(k));
  if (missing.length > 0) throw new InitArgumentError(`--${missing.join(', --')} required`);
  const required = (key: string): string => {
    const v = values.get(key);
    if (v === undefined) throw new InitArgumentError(`--${key} is required`);
    return v;
  };
  const uid = required('proxy-uid');
  if (!/^\d{1,10}$/.test(uid) || Number(uid) === 0) {
    throw new InitArgumentError(`--proxy-uid: "${uid}" must be a non-zero numeric uid`);
  }
  return {
    outboundPort: port(required('outbound-port'), '--outbound-port'),
    inboundPort: port(required('inbound-port'), '--inbound-port'),
    proxyUid: Number(uid),
    skipInboundPorts: list(parsePortRanges(values.get('skip-inbound-ports') ?? ''), '--skip-inbound-ports'),
    skipOutboundPorts: list(
      parsePortRanges(values.get('skip-outbound-ports') ?? ''),
      '--skip-outbound-ports',
    ),
    skipInboundSubnets: list(
      parseSubnets(values.get('skip-inbound-subnets') ?? ''),
      '--skip-inbound-subnets',
    ),
    skipOutboundSubnets: list(
      parseSubnets(values.get('skip-outbound-subnets') ?? ''),
      '--skip-outbound-subnets',
    ),
  };
}

const dport = (r: PortRange) => (r.from === r.to ? String(r.from) : `${r.from}:${r.to}`);

/** iptables-restore input for the nat table of one address family. */
export function natRules(o: InitOptions, family: 4 | 6): string {
  const inFamily = (cidr: string) => cidr.includes(':') === (family === 6);
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  const lines = [
    '*nat',
    ...Object.values(CHAINS).map((c) => `:${c} - [0:0]`),
    `-A ${CHAINS.inboundRedirect} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`,
    ...o.skipInboundPorts.map((r) => `-A ${CHAINS.inbound} -p tcp --dport ${dport(r)} -j RETURN`),
    ...o.skipInboundSubnets.filter(inFamily).map((s) => `-A ${CHAINS.inbound} -s ${s} -j RETURN`),
    `-A ${CHAINS.inbound} -p tcp -j ${CHAINS.inboundRedirect}`,
    `-A ${CHAINS.outboundRedirect} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
    // The proxy's own connections (to endpoints, to the control plane) must never loop back into it.
    `-A ${CHAINS.outbound} -m owner --uid-owner ${o.proxyUid} -j RETURN`,
    `-A ${CHAINS.outbound} -o lo -j RETURN`,
    `-A ${CHAINS.outbound} -d ${loopback} -j RETURN`,
    ...o.skipOutboundPorts.map((r) => `-A ${CHAINS.outbound} -p tcp --dport ${dport(r)} -j RETURN`),
    ...o.skipOutboundSubnets.filter(inFamily).map((s) => `-A ${CHAINS.outbound} -d ${s} -j RETURN`),
    `-A ${CHAINS.outbound} -p tcp -j ${CHAINS.outboundRedirect}`,
    ...JUMPS.map((j) => `-A ${j.join(' ')}`),
    'COMMIT',
    '',
  ];
  return lines.join('\n');
}
