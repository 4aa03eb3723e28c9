// HTTPRouteGroup, TCPRoute and UDPRoute (specs.smi-spec.io), every version. Storage version: v1alpha4.
import type { SmiObjectBase } from './meta.ts';

export const SPECS_GROUP = 'specs.smi-spec.io';
export const SPECS_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
export type SpecsVersion = (typeof SPECS_VERSIONS)[number];
export const UDP_ROUTE_VERSIONS = ['v1alpha4'] as const;
export const SPECS_STORAGE_VERSION = 'v1alpha4' satisfies SpecsVersion;

/** HTTP methods a match may list; `*` means every method. */
export const HTTP_METHODS = [
  '*',
  'GET',
  'HEAD',
  'PUT',
  'POST',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
] as const;

/**
 * Header matches, header name -> regex, ANDed. The spec prose writes a map; the Go SDK and other meshes'
 * CRDs write a list of maps, usually of one key each (all keys of all entries are ANDed). Both are accepted
 * and stored as written.
 */
export type HttpHeaderMatches = Record<string, string> | Record<string, string>[];

/** v1alpha1 match: no headers. */
export interface HttpMatchV1alpha1 {
  name?: string;
  methods?: string[];
  /** Anchored at the start of the path; in the Weft regex dialect (crds/proxy-config/regex-dialect.ts). */
  pathRegex?: string;
}

export interface HttpMatch extends HttpMatchV1alpha1 {
  headers?: HttpHeaderMatches;
}

export interface HTTPRouteGroupV1alpha1
  extends SmiObjectBase<'specs.smi-spec.io/v1alpha1', 'HTTPRouteGroup'> {
  matches?: HttpMatchV1alpha1[];
}
export interface HTTPRouteGroupV1alpha2
  extends SmiObjectBase<'specs.smi-spec.io/v1alpha2', 'HTTPRouteGroup'> {
  matches?: HttpMatch[];
}
export interface HTTPRouteGroupSpec {
  matches?: HttpMatch[];
}
export interface HTTPRouteGroupV1alpha3
  extends SmiObjectBase<'specs.smi-spec.io/v1alpha3', 'HTTPRouteGroup'> {
  spec?: HTTPRouteGroupSpec;
}
export interface HTTPRouteGroupV1alpha4
  extends SmiObjectBase<'specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup'> {
  spec?: HTTPRouteGroupSpec;
}

export type AnyHTTPRouteGroup =
  | HTTPRouteGroupV1alpha1
  | HTTPRouteGroupV1alpha2
  | HTTPRouteGroupV1alpha3
  | HTTPRouteGroupV1alpha4;

/** v1alpha1 and v1alpha2 TCPRoutes have no spec: they name "TCP traffic" as a whole. */
export type TCPRouteV1alpha1 = SmiObjectBase<'specs.smi-spec.io/v1alpha1', 'TCPRoute'>;
export type TCPRouteV1alpha2 = SmiObjectBase<'specs.smi-spec.io/v1alpha2', 'TCPRoute'>;
/** v1alpha3 has an empty spec. */
export interface TCPRouteV1alpha3 extends SmiObjectBase<'specs.smi-spec.io/v1alpha3', 'TCPRoute'> {
  spec?: Record<string, never>;
}

export interface PortMatches {
  name?: string;
  /** Ports 1..65535; absent or empty means every port. */
  ports?: number[];
}

export interface L4RouteSpec {
  matches?: PortMatches;
}

export interface TCPRouteV1alpha4 extends SmiObjectBase<'specs.smi-spec.io/v1alpha4', 'TCPRoute'> {
  spec?: L4RouteSpec;
}

export type AnyTCPRoute = TCPRouteV1alpha1 | TCPRouteV1alpha2 | TCPRouteV1alpha3 | TCPRouteV1alpha4;

export interface UDPRouteV1alpha4 extends SmiObjectBase<'specs.smi-spec.io/v1alpha4', 'UDPRoute'> {
  spec?: L4RouteSpec;
}
