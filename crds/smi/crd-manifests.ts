// CustomResourceDefinition objects for every SMI kind, built from kinds.ts. Pure: crds/generate.ts writes
// them to crds/manifests/, the installer (or the e2e test) fills in the conversion webhook's client config.
import { SMI_CATEGORY, SMI_KIND_INFO, SMI_KINDS, type SmiKind, type SmiKindInfo } from './kinds.ts';

/** Where the apiserver reaches the conversion webhook. Default: the in-cluster Service, caBundle patched in. */
export type WebhookClientConfig =
  | { service: { namespace: string; name: string; path: string; port: number }; caBundle?: string }
  | { url: string; caBundle?: string };

export const DEFAULT_CONVERSION_CLIENT_CONFIG: WebhookClientConfig = {
  service: { namespace: 'weft-system', name: 'weft-webhooks', path: '/convert', port: 443 },
};

/** Label on every Weft CRD, so the certificate manager can find the ones whose caBundle it owns. */
export const CRD_PART_OF_LABEL = { 'app.kubernetes.io/part-of': 'weft' };

/** Builds the CRD of one kind. */
export function customResourceDefinition(
  kind: SmiKind,
  clientConfig: WebhookClientConfig = DEFAULT_CONVERSION_CLIENT_CONFIG,
): Record<string, unknown> {
  const info: SmiKindInfo = SMI_KIND_INFO[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${info.group}`, labels: { ...CRD_PART_OF_LABEL } },
    spec: {
      group: info.group,
      scope: 'Namespaced',
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: info.shortNames,
        categories: [SMI_CATEGORY],
      },
      conversion:
        info.versions.length > 1
          ? {
              strategy: 'Webhook',
              webhook: { conversionReviewVersions: ['v1'], clientConfig: structuredClone(clientConfig) },
            }
          : { strategy: 'None' },
      versions: info.versions.map((name) => ({
        name,
        served: true,
        storage: name === info.storageVersion,
        schema: { openAPIV3Schema: info.schema(name, 'crd') },
        subresources: { status: {} },
        additionalPrinterColumns: info.columns(name),
      })),
    },
  };
}

/** The file name of each kind's manifest under crds/manifests/. */
export function manifestFileName(kind: SmiKind): string {
  const info = SMI_KIND_INFO[kind];
  return `${info.plural}.${info.group}.yaml`;
}

/** Every SMI CRD. */
export function allCustomResourceDefinitions(clientConfig?: WebhookClientConfig): Record<string, unknown>[] {
  return SMI_KINDS.map((k) => customResourceDefinition(k, clientConfig));
}
