// Applying a patch message to the config a proxy holds. Pure; the result must still pass validateProxyConfig.
import type { ProxyConfig } from '../proxy-config/types.ts';
import type { PatchMessage } from './types.ts';

export class PatchBaseError extends Error {
  override name = 'PatchBaseError';
}

/** Returns the new document; throws PatchBaseError when `base` is not the version the patch was made against. */
export function applyConfigPatch(base: ProxyConfig, patch: PatchMessage): ProxyConfig {
  if (base.version !== patch.base) {
    throw new PatchBaseError(`patch is against ${patch.base}, the proxy holds ${base.version}`);
  }
  const merge = <T extends { namespace: string; name: string }>(
    list: readonly T[],
    change: { upsert: readonly T[]; remove: readonly { namespace: string; name: string }[] },
  ): T[] => {
    const key = (x: { namespace: string; name: string }) => `${x.namespace}/${x.name}`;
    const out = new Map(list.map((x) => [key(x), x]));
    for (const r of change.remove) out.delete(key(r));
    for (const u of change.upsert) out.set(key(u), u);
    return [...out.values()];
  };
  return {
    ...(patch.config as Omit<ProxyConfig, 'outbound'>),
    outbound: {
      services: merge(base.outbound.services, patch.outbound.services),
      backends: merge(base.outbound.backends, patch.outbound.backends),
    },
  } as ProxyConfig;
}
