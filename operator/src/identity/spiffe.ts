// SPIFFE IDs of mesh workloads: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.
import { parseSpiffeId } from '../../../crds/proxy-config/validate.ts';

// Trust domains are lowercase DNS-like names (SPIFFE ID spec: letters, digits, dot, dash, underscore).
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
// Namespaces and ServiceAccounts are DNS labels / subdomains.
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function isValidTrustDomain(td: string): boolean {
  return TRUST_DOMAIN.test(td);
}

/** The SPIFFE ID of a ServiceAccount; throws on names Kubernetes would not allow. */
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new Error(`invalid trust domain "${trustDomain}"`);
  if (!K8S_NAME.test(namespace)) throw new Error(`invalid namespace "${namespace}"`);
  if (!K8S_NAME.test(serviceAccount)) throw new Error(`invalid serviceaccount "${serviceAccount}"`);
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export { parseSpiffeId };
