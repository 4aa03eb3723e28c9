// `weft inject`: the webhook's injector, offline, over manifests. Pods and the pod templates of
// Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs (and Lists of them) are
// injected as if their namespace had weft.dev/inject=enabled; everything else passes through.
import { parseAllDocuments, stringify } from 'yaml';
import { INJECT } from '../crds/annotations.ts';
import { InjectReason, inject, type Pod } from '../webhooks/src/injection/inject.ts';
import { applyPatch } from '../webhooks/src/injection/json-patch.ts';
import type { MeshConfig } from '../webhooks/src/injection/mesh-config.ts';

export interface InjectReport {
  /** `Kind namespace/name` and what happened to it. */
  object: string;
  reason: InjectReason | 'NotAWorkload';
  message: string;
}

type Obj = Record<string, unknown> & {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: Record<string, unknown>;
  items?: unknown[];
};

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

export class ManifestError extends Error {}

function describe(o: Obj): string {
  const ns = o.metadata?.namespace;
  return `${o.kind ?? '<no kind>'} ${ns ? `${ns}/` : ''}${o.metadata?.name ?? '<no name>'}`;
}

function injectPod(
  pod: Pod,
  namespace: string | undefined,
  mesh: MeshConfig,
  label: string,
  reports: InjectReport[],
) {
  const ns = { metadata: { name: namespace ?? 'default', annotations: { [INJECT]: 'enabled' } } };
  const result = inject(
    { ...pod, metadata: { ...pod.metadata, namespace: namespace ?? 'default' } },
    ns,
    mesh,
  );
  if (result.reason === InjectReason.InvalidOverrides) throw new ManifestError(`${label}: ${result.message}`);
  reports.push({ object: label, reason: result.reason, message: result.message });
  if (!result.injected) return pod;
  // Templates may lack metadata; the patch adds to metadata.annotations and metadata.labels.
  return applyPatch({ ...pod, metadata: { ...pod.metadata } }, result.patch);
}

function injectObject(o: Obj, mesh: MeshConfig, reports: InjectReport[]): Obj {
  const label = describe(o);
  if (o.kind === 'List' && Array.isArray(o.items)) {
    return { ...o, items: o.items.map((item) => injectObject(item as Obj, mesh, reports)) };
  }
  if (o.kind === 'Pod') return injectPod(o as Pod, o.metadata?.namespace, mesh, label, reports) as Obj;
  // The object that holds `template`: spec for most workloads, spec.jobTemplate.spec for a CronJob.
  const copy = structuredClone(o);
  const holderOf = (obj: Obj): Record<string, unknown> | undefined => {
    const spec = o.kind === 'CronJob' ? (obj.spec?.jobTemplate as Obj | undefined)?.spec : obj.spec;
    const isWorkload = TEMPLATE_KINDS.has(o.kind ?? '') || o.kind === 'CronJob';
    return isWorkload && spec && typeof spec.template === 'object' && spec.template !== null
      ? spec
      : undefined;
  };
  const holder = holderOf(copy);
  if (!holder) {
    reports.push({ object: label, reason: 'NotAWorkload', message: 'no pod template; left unchanged' });
    return o;
  }
  holder.template = injectPod(holder.template as Pod, o.metadata?.namespace, mesh, label, reports);
  return copy;
}

/** Injects every document of a multi-document YAML stream; returns the YAML and a report per object. */
export function injectManifests(
  text: string,
  source: string,
  mesh: MeshConfig,
): { yaml: string; reports: InjectReport[] } {
  const reports: InjectReport[] = [];
  const out: string[] = [];
  for (const [index, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new ManifestError(`${source}: document ${index + 1}: ${e?.message ?? 'invalid YAML'}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ManifestError(`${source}: document ${index + 1} is not a Kubernetes object`);
    }
    out.push(stringify(injectObject(value as Obj, mesh, reports)));
  }
  return { yaml: out.join('---\n'), reports };
}
