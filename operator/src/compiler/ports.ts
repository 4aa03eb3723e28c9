import type { ServicePortRecord, ServiceRecord } from '../model/cluster.ts';

/**
 * Whether a port of protocol `next` takes the place of the one already seen on its number (`had`): the config
 * contract keys ports by number, and where a number is both TCP and UDP (DNS) the TCP one, which the proxy
 * carries, is kept. SCTP is passed through, never programmed.
 */
export function takesPortNumber(had: string | undefined, next: string): boolean {
  return next !== 'SCTP' && (had === undefined || (had === 'UDP' && next !== 'UDP'));
}

/** The ports of a Service the mesh programs, one per port number (takesPortNumber), sorted by number. */
export function meshPorts(svc: ServiceRecord): ServicePortRecord[] {
  const byPort = new Map<number, ServicePortRecord>();
  for (const p of svc.ports)
    if (takesPortNumber(byPort.get(p.port)?.protocol, p.protocol)) byPort.set(p.port, p);
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}
