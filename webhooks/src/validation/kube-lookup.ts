// ReferenceLookup against the apiserver: Services, ServiceAccounts and SMI routes (read in their storage
// version). Every answer is bounded in time; an error or timeout means "cannot tell" (no warning).
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { SMI_KIND_INFO } from '../../../crds/smi/kinds.ts';
import {
  type LookupAnswer,
  type ReferenceLookup,
  routeMatchNames,
} from '../../../crds/smi/validation/index.ts';

const LOOKUP_TIMEOUT_MS = 1_500;

function notFound(e: unknown): boolean {
  return e instanceof ApiException && e.code === 404;
}

/** `p`, or undefined ("cannot tell") when it takes longer than the lookup timeout. */
async function bounded<T>(p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), LOOKUP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A lookup reading the cluster through `kc`. */
export function kubeReferenceLookup(kc: KubeConfig): ReferenceLookup {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const read = async (kind: string, namespace: string, name: string): Promise<LookupAnswer> => {
    try {
      if (kind === 'Service') {
        await core.readNamespacedService({ name, namespace });
        return { found: true };
      }
      if (kind === 'ServiceAccount') {
        await core.readNamespacedServiceAccount({ name, namespace });
        return { found: true };
      }
      const info = SMI_KIND_INFO[kind as 'HTTPRouteGroup' | 'TCPRoute' | 'UDPRoute'];
      const route = (await custom.getNamespacedCustomObject({
        group: info.group,
        version: info.storageVersion,
        namespace,
        plural: info.plural,
        name,
      })) as Record<string, unknown>;
      return { found: true, matchNames: routeMatchNames(kind, route) };
    } catch (e) {
      return notFound(e) ? { found: false } : undefined;
    }
  };
  const split = SMI_KIND_INFO.TrafficSplit;
  const splitsOfRoot = async (namespace: string, service: string): Promise<string[] | undefined> => {
    try {
      const list = (await custom.listNamespacedCustomObject({
        group: split.group,
        version: split.storageVersion,
        namespace,
        plural: split.plural,
      })) as { items?: { metadata?: { name?: string }; spec?: { service?: string } }[] };
      return (list.items ?? []).filter((t) => t.spec?.service === service).map((t) => t.metadata?.name ?? '');
    } catch {
      return undefined;
    }
  };
  return {
    lookup: (ref) => bounded(read(ref.kind, ref.namespace, ref.name)),
    trafficSplitsOfRoot: (namespace, service) => bounded(splitsOfRoot(namespace, service)),
  };
}
