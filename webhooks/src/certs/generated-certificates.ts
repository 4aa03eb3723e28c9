// Serving certificates generated and rotated by the webhook itself: a CA shared through a CaStore, a serving
// certificate per replica signed by it, the caBundle published before any replica uses a new CA.
import type { Logger } from 'pino';
import type { ServingCertificate } from '../server/https-server.ts';
import type { CaBundlePublisher } from './ca-bundle-publisher.ts';
import type { CaStore, StoredCa } from './ca-store.ts';
import {
  type CaEntry,
  type CertificatePolicy,
  caBundle,
  DEFAULT_CERTIFICATE_POLICY,
  dueForRenewal,
  nextCheckDelayMs,
  planCertificateAuthorities,
  type Validity,
} from './rotation.ts';
import {
  certificateValidity,
  createCertificateAuthority,
  issueServingCertificate,
  type KeyedCertificate,
} from './x509.ts';

export interface GeneratedCertificatesOptions {
  store: CaStore;
  publisher?: CaBundlePublisher;
  names: { dnsNames: readonly string[]; ipAddresses: readonly string[] };
  policy?: CertificatePolicy;
  logger: Logger;
  onCertificate(cert: ServingCertificate, notAfter: Date): void;
  now?: () => Date;
}

const MAX_CONFLICT_RETRIES = 5;
const PUBLISH_RETRY_MS = 10_000;

export class GeneratedCertificates {
  readonly #o: GeneratedCertificatesOptions;
  readonly #policy: CertificatePolicy;
  #serving: (KeyedCertificate & { issuerPem: string }) | undefined;
  #bundle = '';
  #signingCa: Validity | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #publishPending = false;

  constructor(o: GeneratedCertificatesOptions) {
    this.#o = o;
    this.#policy = o.policy ?? DEFAULT_CERTIFICATE_POLICY;
  }

  /** The caBundle last published (PEM). */
  get caBundle(): string {
    return this.#bundle;
  }

  /** One pass: ensure the CA, publish the bundle, renew the serving certificate if due. */
  async refresh(): Promise<ServingCertificate> {
    const now = (this.#o.now ?? (() => new Date()))();
    const cas = await this.#ensureCas(now);
    const signing = cas[0]!;
    this.#signingCa = certificateValidity(signing.certPem);
    const bundle = caBundle(cas);
    let published = true;
    // Published on every pass, not only on change: the publisher writes only where the bundle differs, and
    // this repairs a caBundle that something else removed (a GitOps tool re-applying the CRD manifests).
    if (this.#o.publisher !== undefined) {
      try {
        await this.#o.publisher.publish(bundle);
      } catch (e) {
        // Keep serving; retried soon. Until then no new CA is used, since the apiserver would not trust it.
        published = false;
        this.#o.logger.error({ err: (e as Error).message }, 'publishing the caBundle failed; retrying');
      }
    }
    if (published) this.#bundle = bundle;
    this.#publishPending = !published;
    const s = this.#serving;
    const renew =
      s === undefined ||
      (published && (s.issuerPem !== signing.certPem || dueForRenewal(s, now, this.#policy.renewAtFraction)));
    if (renew) {
      const issued = issueServingCertificate(signing, this.#o.names, now, this.#policy.servingValidityMs);
      this.#serving = { ...issued, issuerPem: signing.certPem };
      this.#o.logger.info({ notAfter: issued.notAfter.toISOString() }, 'serving certificate issued');
      this.#o.onCertificate({ cert: issued.certPem, key: issued.keyPem }, issued.notAfter);
    }
    const cur = this.#serving!;
    return { cert: cur.certPem, key: cur.keyPem };
  }

  async #ensureCas(now: Date): Promise<StoredCa[]> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const snap = await this.#o.store.load();
      const entries: (CaEntry & StoredCa)[] = snap.cas.map((c) => ({
        ...c,
        ...certificateValidity(c.certPem),
      }));
      const plan = planCertificateAuthorities(entries, now, this.#policy);
      const kept = entries
        .filter((e) => plan.keep.includes(e))
        .map(({ certPem, keyPem }) => ({ certPem, keyPem }));
      if (!plan.createCa && kept.length === snap.cas.length) return kept;
      const next = plan.createCa
        ? [createCertificateAuthority('weft-webhooks-ca', now, this.#policy.caValidityMs), ...kept]
        : kept;
      const cas = next.map(({ certPem, keyPem }) => ({ certPem, keyPem }));
      if ((await this.#o.store.save(cas, snap.revision)) === 'saved') {
        this.#o.logger.info({ cas: cas.length, created: plan.createCa }, 'webhook CA store updated');
        return cas;
      }
      // Another replica wrote first: use what it wrote.
    }
    throw new Error('could not update the webhook CA store: too many concurrent writers');
  }

  /** Refreshes now and then whenever something is due; errors are logged and retried. */
  async start(): Promise<ServingCertificate> {
    const first = await this.refresh();
    this.#schedule();
    return first;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const now = (this.#o.now ?? (() => new Date()))();
    const s = this.#serving!;
    const delay = this.#publishPending
      ? PUBLISH_RETRY_MS
      : nextCheckDelayMs(s, this.#signingCa!, now, this.#policy);
    this.#timer = setTimeout(() => {
      this.refresh()
        .catch((e: unknown) => this.#o.logger.error({ err: e }, 'certificate refresh failed; retrying'))
        .finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
