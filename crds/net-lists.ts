// The list values the injector and proxy-init share: port lists with ranges ("5432,8000-8010") and subnet
// lists ("10.0.0.0/8,fd00::/8"). The webhook parses them from config.weft.dev annotations and passes them
// to proxy-init as flags, which parses them again; one parser means a value the webhook accepts is exactly a
// value proxy-init accepts. Each parser returns the values, or a message naming the bad item.

import { isIPv4, isIPv6 } from 'node:net';

export interface PortRange {
  from: number;
  to: number;
}

export type ListResult<T> = { ok: true; value: T[] } | { ok: false; error: string };

function items(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A TCP port, 1-65535, written in decimal without sign or spaces. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** "80,8000-8010": single ports and inclusive ranges; empty items are ignored. */
export function parsePortRanges(value: string): ListResult<PortRange> {
  const out: PortRange[] = [];
  for (const item of items(value)) {
    const parts = item.split('-');
    const from = parts.length <= 2 ? parsePort(parts[0]!) : undefined;
    const to = parts.length === 2 ? parsePort(parts[1]!) : from;
    if (from === undefined || to === undefined)
      return { ok: false, error: `"${item}" is not a port (1-65535) or a range like 8000-8010` };
    if (to < from) return { ok: false, error: `range "${item}" ends before it starts` };
    out.push({ from, to });
  }
  return { ok: true, value: out };
}

export function formatPortRanges(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/**
 * "10.0.0.0/8,192.168.1.1,fd00::/8": addresses and CIDRs, each returned as address/prefix. Addresses are
 * checked by node:net, which refuses what iptables would refuse or read differently (":::", leading zeros
 * such as 10.0.0.010, which libxtables reads as octal, and zones such as %eth0).
 */
export function parseSubnets(value: string): ListResult<string> {
  const out: string[] = [];
  for (const item of items(value)) {
    const slash = item.indexOf('/');
    const address = slash < 0 ? item : item.slice(0, slash);
    const v4 = isIPv4(address);
    // node:net also takes a zone ("fe80::1%eth0"), which is no part of a rule.
    const v6 = !v4 && isIPv6(address) && !address.includes('%');
    const max = v4 ? 32 : 128;
    const prefix = slash < 0 ? String(max) : item.slice(slash + 1);
    if ((!v4 && !v6) || !/^\d{1,3}$/.test(prefix) || Number(prefix) > max)
      return { ok: false, error: `"${item}" is not an IPv4 or IPv6 address or CIDR` };
    out.push(`${address}/${Number(prefix)}`);
  }
  return { ok: true, value: out };
}
