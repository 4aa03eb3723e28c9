// The SMI API as Weft serves it. The unversioned names are the storage versions: the shape the operator
// reads and the shape every served version converts through.

export * from './crd-manifests.ts';
export * from './kinds.ts';
export * from './types/index.ts';
export type {
  HTTPRouteGroupV1alpha4 as HTTPRouteGroup,
  TCPRouteV1alpha4 as TCPRoute,
  UDPRouteV1alpha4 as UDPRoute,
} from './types/traffic-specs.ts';
export type { TrafficSplitV1alpha4 as TrafficSplit } from './types/traffic-split.ts';
export type { TrafficTargetV1alpha3 as TrafficTarget } from './types/traffic-target.ts';
