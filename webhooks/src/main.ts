// The webhook process: configuration, certificates (generated and rotated, or from files), the HTTPS server.
// Every replica serves; none needs to be a leader.
import { writeFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadKubeConfig } from '../../crds/kube-client.ts';
import { releaseStartupPages } from '../../proxy-image/src/startup-pages.ts';
import { buildWebhookRouter } from './app.ts';
import { KubeCaBundlePublisher } from './certs/ca-bundle-publisher.ts';
import { MemoryCaStore, SecretCaStore } from './certs/ca-store.ts';
import { FileCertificates } from './certs/file-certificates.ts';
import { GeneratedCertificates } from './certs/generated-certificates.ts';
import { parseWebhookConfig } from './config.ts';
import { InjectionEventRecorder } from './injection/events.ts';
import { INJECT_PATH, injectHandler } from './injection/handler.ts';
import { KubeNamespaces } from './injection/kube-namespaces.ts';
import { FileMeshConfig } from './injection/mesh-config-file.ts';
import type { RunningWebhookServer, ServingCertificate } from './server/https-server.ts';
import { startWebhookServer } from './server/https-server.ts';
import { createWebhookMetrics } from './server/metrics.ts';
import { kubeReferenceLookup } from './validation/kube-lookup.ts';

const DRAIN_MS = 3_000;

async function main(): Promise<void> {
  const config = parseWebhookConfig(process.env);
  const logger = pino({ level: config.logLevel, base: { component: 'webhooks' } });
  const metrics = createWebhookMetrics();
  const c = config.certificates;
  const publishes =
    c.mode === 'generated' &&
    c.publish.crds.length +
      c.publish.validatingWebhookConfigurations.length +
      c.publish.mutatingWebhookConfigurations.length >
      0;
  const needsCluster =
    config.injection !== undefined ||
    config.referenceLookup ||
    publishes ||
    (c.mode === 'generated' && c.caStore.kind === 'secret');
  let kc: KubeConfig | undefined;
  if (needsCluster) {
    // Pooled connections to the apiserver, calls and watches apart (crds/kube-client.ts).
    kc = loadKubeConfig();
  }
  let server: RunningWebhookServer | undefined;
  let draining = false;
  let certificateLoaded = false;
  const onCertificate = (c: ServingCertificate, notAfter: Date) => {
    certificateLoaded = true;
    metrics.certificateNotAfter.set(notAfter.getTime() / 1000);
    metrics.certificateReloads.inc({ source: config.certificates.mode, result: 'ok' });
    server?.setCertificate(c);
  };
  let certificate: ServingCertificate;
  let stopCertificates: () => void;
  if (c.mode === 'files') {
    const files = new FileCertificates({ directory: c.directory, logger, onCertificate });
    certificate = await files.start();
    stopCertificates = () => files.stop();
  } else {
    const store =
      c.caStore.kind === 'memory'
        ? new MemoryCaStore()
        : new SecretCaStore(kc!, c.caStore.namespace, c.caStore.name);
    const generated = new GeneratedCertificates({
      store,
      ...(publishes ? { publisher: new KubeCaBundlePublisher(kc!, c.publish, logger) } : {}),
      names: { dnsNames: c.dnsNames, ipAddresses: c.ipAddresses },
      logger,
      onCertificate,
    });
    certificate = await generated.start();
    if (config.caBundleFile !== undefined) await writeFile(config.caBundleFile, generated.caBundle);
    stopCertificates = () => generated.stop();
  }
  const router = buildWebhookRouter(
    metrics,
    {
      ready: () =>
        draining
          ? { ok: false, reason: 'shutting down' }
          : certificateLoaded
            ? { ok: true }
            : { ok: false, reason: 'no certificate' },
    },
    config.referenceLookup && kc !== undefined ? { lookup: kubeReferenceLookup(kc) } : {},
  );
  if (config.injection !== undefined) {
    const mesh = new FileMeshConfig(
      config.injection.meshConfigFile,
      config.injection.trustAnchorsFile,
      logger.child({ part: 'mesh-config' }),
    );
    router.register(
      INJECT_PATH,
      ['POST'],
      injectHandler(
        new KubeNamespaces(kc!),
        () => mesh.current(),
        logger.child({ part: 'injector' }),
        new InjectionEventRecorder(kc!, logger.child({ part: 'events' })),
      ),
    );
  }
  server = await startWebhookServer({
    router,
    certificate,
    metrics,
    logger,
    host: config.host,
    port: config.port,
  });
  if (config.releaseStartupPages) releaseStartupPages(logger);
  const shutdown = (signal: string) => {
    if (draining) return;
    draining = true;
    logger.info({ signal }, 'draining: readyz now fails, closing after the grace period');
    stopCertificates();
    setTimeout(() => {
      server
        ?.close()
        .then(() => process.exit(0))
        .catch(() => process.exit(1));
    }, DRAIN_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  console.error(`weft webhooks failed to start: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
