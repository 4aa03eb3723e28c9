// SMI objects as the compiler keeps them: the storage version, without status and server-managed metadata, so
// a status write by the operator does not look like a change.
import type { KubernetesObject } from '@kubernetes/client-node';

export function smiRecord(o: KubernetesObject): unknown {
  const x = o as KubernetesObject & { spec?: unknown };
  const m = x.metadata ?? {};
  const created = m.creationTimestamp as unknown;
  return {
    apiVersion: x.apiVersion,
    kind: x.kind,
    metadata: {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid,
      generation: m.generation,
      creationTimestamp: created instanceof Date ? created.toISOString() : created,
    },
    spec: x.spec,
  };
}
