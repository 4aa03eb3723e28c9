// Semantic rules of TrafficSplit, on the storage version.
import type { TrafficSplitV1alpha4 } from '../types/traffic-split.ts';
import { at, type Finding } from './findings.ts';
import type { Reference } from './references.ts';

const SERVICE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function trafficSplitRules(ts: TrafficSplitV1alpha4, namespace: string) {
  const denials: Finding[] = [];
  const warnings: Finding[] = [];
  const references: Reference[] = [];
  const { service, backends, matches = [] } = ts.spec;
  if (!SERVICE_NAME.test(service) || service.length > 63) {
    denials.push({
      code: 'InvalidServiceName',
      field: 'spec.service',
      message: `"${service}" is not a valid Service name (DNS-1035 label)`,
    });
  } else {
    references.push({ kind: 'Service', namespace, name: service, field: 'spec.service' });
  }
  if (backends.length === 0) {
    denials.push({ code: 'NoBackends', field: 'spec.backends', message: 'must list at least one backend' });
  }
  const seen = new Map<string, number>();
  for (const [i, b] of backends.entries()) {
    const field = at(at('spec.backends', i), 'service');
    if (b.weight < 0) {
      denials.push({
        code: 'NegativeWeight',
        field: at(at('spec.backends', i), 'weight'),
        message: `${b.weight} is negative`,
      });
    }
    if (!SERVICE_NAME.test(b.service) || b.service.length > 63) {
      denials.push({
        code: 'InvalidServiceName',
        field,
        message: `"${b.service}" is not a valid Service name (DNS-1035 label)`,
      });
      continue;
    }
    const first = seen.get(b.service);
    if (first !== undefined) {
      denials.push({
        code: 'DuplicateBackend',
        field,
        message: `"${b.service}" is already backend spec.backends[${first}]`,
      });
      continue;
    }
    seen.set(b.service, i);
    if (b.service !== service) references.push({ kind: 'Service', namespace, name: b.service, field });
  }
  if (backends.length === 1 && backends[0]!.service === service) {
    denials.push({
      code: 'SelfOnlyBackend',
      field: 'spec.backends[0].service',
      message: `the root service "${service}" cannot be its own only backend; add the backends it splits to`,
    });
  }
  if (backends.length > 0 && backends.every((b) => b.weight === 0)) {
    warnings.push({
      code: 'AllWeightsZero',
      field: 'spec.backends',
      message: 'every weight is 0: requests to the root service get no backend (503) until one is raised',
    });
  }
  for (const [i, m] of matches.entries()) {
    const field = at('spec.matches', i);
    if (m.kind !== 'HTTPRouteGroup') {
      denials.push({
        code: 'UnsupportedMatchKind',
        field: at(field, 'kind'),
        message: `"${m.kind}": only HTTPRouteGroup can select requests to split`,
      });
    } else if (m.apiGroup !== undefined && m.apiGroup !== 'specs.smi-spec.io') {
      denials.push({
        code: 'UnsupportedMatchKind',
        field: at(field, 'apiGroup'),
        message: `"${m.apiGroup}": must be specs.smi-spec.io`,
      });
    } else {
      references.push({ kind: 'HTTPRouteGroup', namespace, name: m.name, field: at(field, 'name') });
    }
  }
  return { denials, warnings, references };
}
