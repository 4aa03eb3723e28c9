import type { ServicePortRecord, ServiceRecord } from '../model/cluster.ts';

/**
 * The ports of a Service the mesh programs, one per port number (the config contract's key), sorted: SCTP is
 * passed through, and where a number is both TCP and UDP (DNS), the TCP one, which the proxy carries.
 */
export function meshPorts(svc: ServiceRecord): ServicePortRecord[] {
  const byPort = new Map<number, ServicePortRecord>();
  for (const p of svc.ports) {
    if (p.protocol === 'SCTP') continue;
    const had = byPort.get(p.port);
    if (had === undefined || (had.protocol === 'UDP' && p.protocol !== 'UDP')) byPort.set(p.port, p);
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}
