// The mesh CA material in a Secret: read it, or generate it once (the first replica to create the Secret wins;
// the others read what it wrote). Supplied material (for example from cert-manager) is the same Secret, filled in.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  generateIssuer,
  generateTrustAnchor,
  type IssuerMaterial,
  keyToPem,
  loadIssuer,
} from '../identity/index.ts';
import { isNotFound, lostWriteRace } from './api.ts';

export const CA_SECRET_KEYS = {
  anchors: 'ca.crt',
  issuerCert: 'issuer.crt',
  issuerKey: 'issuer.key',
} as const;

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
      const s = await core.readNamespacedSecret({ name, namespace });
      const get = (k: string) => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
      return loadIssuer({
        anchors: get(CA_SECRET_KEYS.anchors),
        issuerCert: get(CA_SECRET_KEYS.issuerCert),
        issuerKey: get(CA_SECRET_KEYS.issuerKey),
      });
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
  const b64 = (s: string) => Buffer.from(s).toString('base64');
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
