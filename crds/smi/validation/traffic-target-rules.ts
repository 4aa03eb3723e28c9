// Semantic rules of TrafficTarget, on the storage version. Paths are storage paths (translated later).
import {
  foreignDestinationNamespace,
  TRAFFIC_TARGET_RULE_KINDS,
  type TrafficTargetV1alpha3,
} from '../types/traffic-target.ts';
import { at, type Finding } from './findings.ts';
import type { Reference, ReferencedKind } from './references.ts';

export function trafficTargetRules(tt: TrafficTargetV1alpha3, namespace: string) {
  const denials: Finding[] = [];
  const references: Reference[] = [];
  const { destination, sources = [], rules = [] } = tt.spec;
  if (destination.kind !== 'ServiceAccount') {
    denials.push({
      code: 'UnsupportedSubjectKind',
      field: 'spec.destination.kind',
      message: `"${destination.kind}": Weft identities are ServiceAccounts`,
    });
  }
  const foreign = foreignDestinationNamespace(destination, namespace);
  if (foreign !== null) {
    denials.push({
      code: 'DestinationInOtherNamespace',
      field: 'spec.destination.namespace',
      message: `"${foreign}": the destination must be in the TrafficTarget's namespace "${namespace}"`,
    });
  } else if (destination.kind === 'ServiceAccount') {
    references.push({
      kind: 'ServiceAccount',
      namespace,
      name: destination.name,
      field: 'spec.destination.name',
    });
  }
  if (sources.length === 0) {
    denials.push({ code: 'NoSources', field: 'spec.sources', message: 'must list at least one source' });
  }
  for (const [i, s] of sources.entries()) {
    if (s.kind !== 'ServiceAccount') {
      denials.push({
        code: 'UnsupportedSubjectKind',
        field: at(at('spec.sources', i), 'kind'),
        message: `"${s.kind}": Weft identities are ServiceAccounts`,
      });
      continue;
    }
    references.push({
      kind: 'ServiceAccount',
      namespace: s.namespace ?? namespace,
      name: s.name,
      field: at(at('spec.sources', i), 'name'),
    });
  }
  if (rules.length === 0) {
    denials.push({ code: 'NoRules', field: 'spec.rules', message: 'must list at least one rule' });
  }
  for (const [i, r] of rules.entries()) {
    const field = at('spec.rules', i);
    if (!(TRAFFIC_TARGET_RULE_KINDS as readonly string[]).includes(r.kind)) {
      denials.push({
        code: 'UnsupportedRuleKind',
        field: at(field, 'kind'),
        message: `"${r.kind}": must be one of ${TRAFFIC_TARGET_RULE_KINDS.join(', ')}`,
      });
      continue;
    }
    const matchNames = (r.matches ?? []).map((name, j) => ({ name, field: at(at(field, 'matches'), j) }));
    references.push({
      kind: r.kind as ReferencedKind,
      namespace,
      name: r.name,
      field: at(field, 'name'),
      ...(matchNames.length > 0 ? { matchNames } : {}),
    });
  }
  return { denials, warnings: [] as Finding[], references };
}
