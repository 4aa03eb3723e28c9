// Writes the caBundle where the apiserver reads it: the SMI CRDs' conversion webhook client config and every
// webhook of the named Validating/MutatingWebhookConfigurations. Idempotent: writes only what differs, so
// every replica may run it.
import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface CaBundlePublisher {
  publish(caBundlePem: string): Promise<void>;
}

export interface CaBundleTargets {
  crds: readonly string[];
  validatingWebhookConfigurations: readonly string[];
  mutatingWebhookConfigurations: readonly string[];
}

export class KubeCaBundlePublisher implements CaBundlePublisher {
  readonly #ext: ApiextensionsV1Api;
  readonly #adm: AdmissionregistrationV1Api;
  readonly #targets: CaBundleTargets;
  readonly #logger: Logger;

  constructor(kc: KubeConfig, targets: CaBundleTargets, logger: Logger) {
    this.#ext = kc.makeApiClient(ApiextensionsV1Api);
    this.#adm = kc.makeApiClient(AdmissionregistrationV1Api);
    this.#targets = targets;
    this.#logger = logger;
  }

  async publish(caBundlePem: string): Promise<void> {
    const caBundle = Buffer.from(caBundlePem, 'utf8').toString('base64');
    const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    for (const name of this.#targets.crds) {
      const crd = await this.#ext.readCustomResourceDefinition({ name }).catch(ignoreNotFound);
      const webhook = crd?.spec.conversion?.webhook;
      if (webhook?.clientConfig === undefined || webhook.clientConfig.caBundle === caBundle) continue;
      await this.#ext.patchCustomResourceDefinition(
        {
          name,
          body: [{ op: 'add', path: '/spec/conversion/webhook/clientConfig/caBundle', value: caBundle }],
        },
        json,
      );
      this.#logger.info({ crd: name }, 'caBundle written to CRD conversion webhook');
    }
    for (const name of this.#targets.validatingWebhookConfigurations) {
      const cfg = await this.#adm.readValidatingWebhookConfiguration({ name }).catch(ignoreNotFound);
      const patch = webhookPatch(cfg?.webhooks ?? [], caBundle);
      if (patch.length === 0) continue;
      await this.#adm.patchValidatingWebhookConfiguration({ name, body: patch }, json);
      this.#logger.info({ validatingWebhookConfiguration: name }, 'caBundle written');
    }
    for (const name of this.#targets.mutatingWebhookConfigurations) {
      const cfg = await this.#adm.readMutatingWebhookConfiguration({ name }).catch(ignoreNotFound);
      const patch = webhookPatch(cfg?.webhooks ?? [], caBundle);
      if (patch.length === 0) continue;
      await this.#adm.patchMutatingWebhookConfiguration({ name, body: patch }, json);
      this.#logger.info({ mutatingWebhookConfiguration: name }, 'caBundle written');
    }
  }
}

function ignoreNotFound(e: unknown): undefined {
  if (e instanceof ApiException && e.code === 404) return undefined;
  throw e;
}

/** JSON patch setting caBundle on every webhook whose bundle differs; each guarded by a test of its name. */
export function webhookPatch(
  webhooks: readonly { name: string; clientConfig: { caBundle?: string } }[],
  caBundle: string,
) {
  return webhooks.flatMap((w, i) =>
    w.clientConfig.caBundle === caBundle
      ? []
      : [
          { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
          { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
        ],
  );
}
