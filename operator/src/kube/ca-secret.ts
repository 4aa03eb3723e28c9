// The mesh CA material in a Secret: read it, or generate it once (the first replica to create the Secret wins;
// the others read what it wrote). Supplied material (for example from cert-manager) is the same Secret, filled in.
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  type CaSecretData,
  generateIssuer,
  generateTrustAnchor,
  type IssuerMaterial,
  keyToPem,
  loadIssuer,
  renewedIssuer,
} from '../identity/index.ts';
import { isNotFound, lostWriteRace } from './api.ts';

export const CA_SECRET_KEYS = {
  anchors: 'ca.crt',
  issuerCert: 'issuer.crt',
  issuerKey: 'issuer.key',
  /** Only in material the operator generated: the anchor's key, so that it can renew the issuer. */
  anchorKey: 'ca.key',
} as const;

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The CA material a Secret holds (keys CA_SECRET_KEYS), decoded. */
export function secretData(s: V1Secret): CaSecretData {
  const get = (k: string) => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
  const anchorKey = get(CA_SECRET_KEYS.anchorKey);
  return {
    anchors: get(CA_SECRET_KEYS.anchors),
    issuerCert: get(CA_SECRET_KEYS.issuerCert),
    issuerKey: get(CA_SECRET_KEYS.issuerKey),
    anchorKey: anchorKey === '' ? null : anchorKey,
  };
}

/**
 * Renews the issuer of operator-generated material when it is due (renewedIssuer): writes the new issuer into
 * the Secret, guarded by its resourceVersion so that of two replicas one writes and the other reads it back.
 * Returns the Secret as it now is. Supplied material (no anchor key) is returned unchanged.
 */
async function renewIfDue(
  core: CoreV1Api,
  s: V1Secret,
  trustDomain: string,
  log: Logger,
  now: Date,
): Promise<V1Secret> {
  const next = renewedIssuer(secretData(s), trustDomain, now);
  if (next === null) return s;
  const name = s.metadata?.name ?? '';
  const namespace = s.metadata?.namespace ?? '';
  try {
    const written = await core.replaceNamespacedSecret({
      name,
      namespace,
      body: {
        ...s,
        data: {
          ...s.data,
          [CA_SECRET_KEYS.issuerCert]: b64(next.issuerCert),
          [CA_SECRET_KEYS.issuerKey]: b64(next.issuerKey),
        },
      },
    });
    log.info(
      { secret: `${namespace}/${name}`, issuerNotAfter: next.notAfter },
      'renewed the generated issuer',
    );
    return written;
  } catch (err) {
    if (lostWriteRace(err)) return core.readNamespacedSecret({ name, namespace });
    // The material in place still serves until it expires: keep it, say why, try again at the next check.
    log.error(
      { secret: `${namespace}/${name}`, err: (err as Error).message },
      'renewing the generated issuer failed; keeping the current one',
    );
    return s;
  }
}

/** The generated issuer, renewed when due (the leader calls this periodically; every replica follows the Secret). */
export async function renewGeneratedIssuer(
  kc: KubeConfig,
  namespace: string,
  name: string,
  trustDomain: string,
  log: Logger,
  now = new Date(),
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await renewIfDue(core, await core.readNamespacedSecret({ name, namespace }), trustDomain, log, now);
}

export async function loadOrCreateIssuer(
  kc: KubeConfig,
  namespace: string,
  name: string,
  trustDomain: string,
  log: Logger,
): Promise<IssuerMaterial> {
  const core = kc.makeApiClient(CoreV1Api);
  const read = async (): Promise<IssuerMaterial | null> => {
    try {
      // A generated issuer that is due (or already expired, which loadIssuer would refuse) is renewed first.
      const s = await renewIfDue(
        core,
        await core.readNamespacedSecret({ name, namespace }),
        trustDomain,
        log,
        new Date(),
      );
      return loadIssuer(secretData(s));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  };
  const existing = await read();
  if (existing !== null) {
    log.info({ secret: `${namespace}/${name}` }, 'loaded CA material');
    return existing;
  }
  const anchor = generateTrustAnchor(trustDomain);
  const issuer = generateIssuer(anchor, trustDomain);
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, namespace, labels: { 'weft.dev/control-plane': 'true' } },
        type: 'Opaque',
        data: {
          [CA_SECRET_KEYS.anchors]: b64(anchor.cert.toString()),
          [CA_SECRET_KEYS.issuerCert]: b64(issuer.cert.toString()),
          [CA_SECRET_KEYS.issuerKey]: b64(keyToPem(issuer.key)),
          [CA_SECRET_KEYS.anchorKey]: b64(keyToPem(anchor.key)),
        },
      },
    });
    log.info({ secret: `${namespace}/${name}` }, 'generated CA material');
    return { anchors: [anchor.cert], issuer };
  } catch (err) {
    // Another replica created it first: use theirs.
    const theirs = await read();
    if (theirs !== null) return theirs;
    throw err;
  }
}

export const TRUST_ANCHORS_CONFIGMAP = 'weft-trust-anchors';
export const TRUST_ANCHORS_KEY = 'ca.pem';

/**
 * Publishes the public trust anchors for the injector (ConfigMap weft-trust-anchors, key ca.pem, in the operator
 * namespace). Idempotent: writes only when the content differs. Returns whether it wrote.
 */
export async function publishTrustAnchors(
  kc: KubeConfig,
  namespace: string,
  anchorsPem: string,
): Promise<boolean> {
  const core = kc.makeApiClient(CoreV1Api);
  const body = {
    metadata: {
      name: TRUST_ANCHORS_CONFIGMAP,
      namespace,
      labels: { 'weft.dev/control-plane': 'weft-operator' },
    },
    data: { [TRUST_ANCHORS_KEY]: anchorsPem },
  };
  // Every replica publishes when it sees the CA change: a write that lost the race to another replica (409
  // Conflict on replace, AlreadyExists on create) reads again, and stops when the content is already there.
  for (let attempt = 1; ; attempt++) {
    try {
      const cm = await core
        .readNamespacedConfigMap({ name: TRUST_ANCHORS_CONFIGMAP, namespace })
        .catch((err: unknown) => (isNotFound(err) ? null : Promise.reject(err)));
      if (cm === null) await core.createNamespacedConfigMap({ namespace, body });
      else if (cm.data?.[TRUST_ANCHORS_KEY] === anchorsPem) return false;
      else
        await core.replaceNamespacedConfigMap({
          name: TRUST_ANCHORS_CONFIGMAP,
          namespace,
          body: { ...body, metadata: { ...body.metadata, resourceVersion: cm.metadata?.resourceVersion } },
        });
      return true;
    } catch (err) {
      if (!lostWriteRace(err) || attempt >= 5) throw err;
    }
  }
}
