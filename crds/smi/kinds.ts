// The registry of SMI kinds Weft serves: names, versions (storage marked), schemas and printer columns.
// CRDs (crd-manifests.ts), conversion and validation are all driven from this one table.

import type { Schema, SchemaTarget } from './schema/openapi.ts';
import { httpRouteGroupSchema, tcpRouteSchema, udpRouteSchema } from './schema/traffic-specs.ts';
import { trafficSplitSchema } from './schema/traffic-split.ts';
import { trafficTargetSchema } from './schema/traffic-target.ts';
import { SPECS_STORAGE_VERSION, SPECS_VERSIONS, UDP_ROUTE_VERSIONS } from './types/traffic-specs.ts';
import { TRAFFIC_SPLIT_STORAGE_VERSION, TRAFFIC_SPLIT_VERSIONS } from './types/traffic-split.ts';
import { TRAFFIC_TARGET_STORAGE_VERSION, TRAFFIC_TARGET_VERSIONS } from './types/traffic-target.ts';

export const SMI_KINDS = ['TrafficSplit', 'TrafficTarget', 'HTTPRouteGroup', 'TCPRoute', 'UDPRoute'] as const;
export type SmiKind = (typeof SMI_KINDS)[number];

/** kubectl printer column (apiextensions.k8s.io/v1 CustomResourceColumnDefinition). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface SmiKindInfo {
  kind: SmiKind;
  group: string;
  plural: string;
  singular: string;
  shortNames: string[];
  versions: readonly string[];
  storageVersion: string;
  schema(version: string, target: SchemaTarget): Schema;
  columns(version: string): PrinterColumn[];
}

/** Every SMI kind is in this category: `kubectl get smi` lists them all. */
export const SMI_CATEGORY = 'smi';

const READY: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Programmed into every affected proxy.',
};
const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const spec = (version: string, flatVersions: string[]) => (flatVersions.includes(version) ? '' : '.spec');

export const SMI_KIND_INFO: Record<SmiKind, SmiKindInfo> = {
  TrafficSplit: {
    kind: 'TrafficSplit',
    group: 'split.smi-spec.io',
    plural: 'trafficsplits',
    singular: 'trafficsplit',
    shortNames: ['ts'],
    versions: TRAFFIC_SPLIT_VERSIONS,
    storageVersion: TRAFFIC_SPLIT_STORAGE_VERSION,
    schema: (v, t) => trafficSplitSchema(v as never, t),
    columns: () => [
      { name: 'Service', type: 'string', jsonPath: '.spec.service', description: 'Root service.' },
      // The whole list: a printer column shows only the first match of a [*] path, so `backends[*].weight`
      // would hide all but one backend.
      {
        name: 'Backends',
        type: 'string',
        jsonPath: '.spec.backends',
        description: 'Backends with their weights.',
      },
      READY,
      AGE,
    ],
  },
  TrafficTarget: {
    kind: 'TrafficTarget',
    group: 'access.smi-spec.io',
    plural: 'traffictargets',
    singular: 'traffictarget',
    shortNames: ['tt'],
    versions: TRAFFIC_TARGET_VERSIONS,
    storageVersion: TRAFFIC_TARGET_STORAGE_VERSION,
    schema: (v) => trafficTargetSchema(v as never),
    columns: (v) => [
      {
        name: 'Destination',
        type: 'string',
        jsonPath: `${spec(v, ['v1alpha1'])}.destination.name`,
        description: 'Destination ServiceAccount.',
      },
      {
        name: 'Sources',
        type: 'string',
        jsonPath: `${spec(v, ['v1alpha1'])}.sources`,
        description: 'Source ServiceAccounts (kubectl get -o wide).',
        priority: 1,
      },
      READY,
      AGE,
    ],
  },
  HTTPRouteGroup: {
    kind: 'HTTPRouteGroup',
    group: 'specs.smi-spec.io',
    plural: 'httproutegroups',
    singular: 'httproutegroup',
    shortNames: ['htr'],
    versions: SPECS_VERSIONS,
    storageVersion: SPECS_STORAGE_VERSION,
    schema: (v, t) => httpRouteGroupSchema(v as never, t),
    columns: (v) => [
      {
        name: 'Matches',
        type: 'string',
        jsonPath: `${spec(v, ['v1alpha1', 'v1alpha2'])}.matches`,
        priority: 1,
        description: 'Routes (kubectl get -o wide).',
      },
      READY,
      AGE,
    ],
  },
  TCPRoute: {
    kind: 'TCPRoute',
    group: 'specs.smi-spec.io',
    plural: 'tcproutes',
    singular: 'tcproute',
    shortNames: ['tcpr'],
    versions: SPECS_VERSIONS,
    storageVersion: SPECS_STORAGE_VERSION,
    schema: (v) => tcpRouteSchema(v as never),
    columns: (v) =>
      v === 'v1alpha4'
        ? [
            {
              name: 'Ports',
              type: 'string',
              jsonPath: '.spec.matches.ports',
              description: 'Ports (all if empty).',
            },
            READY,
            AGE,
          ]
        : [READY, AGE],
  },
  UDPRoute: {
    kind: 'UDPRoute',
    group: 'specs.smi-spec.io',
    plural: 'udproutes',
    singular: 'udproute',
    shortNames: ['udpr'],
    versions: UDP_ROUTE_VERSIONS,
    storageVersion: SPECS_STORAGE_VERSION,
    schema: () => udpRouteSchema(),
    columns: () => [
      {
        name: 'Ports',
        type: 'string',
        jsonPath: '.spec.matches.ports',
        description: 'Ports (all if empty).',
      },
      READY,
      AGE,
    ],
  },
};

/** Looks a kind up by API group and kind; undefined when it is not an SMI kind Weft serves. */
export function smiKindInfo(group: string, kind: string): SmiKindInfo | undefined {
  const info = SMI_KIND_INFO[kind as SmiKind];
  return info !== undefined && info.group === group ? info : undefined;
}
