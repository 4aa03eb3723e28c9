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

async function bounded(p: Promise<LookupAnswer>): Promise<LookupAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<LookupAnswer>((resolve) => {
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
  return { lookup: (ref) => bounded(read(ref.kind, ref.namespace, ref.name)) };
}
