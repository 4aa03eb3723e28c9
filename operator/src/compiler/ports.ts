import type { ServicePortRecord, ServiceRecord } from '../model/cluster.ts';

/** The ports of a Service the mesh programs (TCP and UDP; SCTP is passed through), by port number. */
export function meshPorts(svc: ServiceRecord): ServicePortRecord[] {
  return svc.ports.filter((p) => p.protocol !== 'SCTP').toSorted((a, b) => a.port - b.port);
}
