// Validation of a proxy config document: the JSON Schema (compiled ahead of time with ajv's standalone
// code generation into schema-validator.generated.js, see generate-validator.ts, so validating never
// loads the ajv compiler) and then the cross-field rules a schema cannot express. Every error has a JSON
// Pointer to the offending value.

import { classifyRegex } from './regex-dialect.ts';
import { validate as validateSchema } from './schema-validator.generated.js';
import type { HttpMatch, ProxyConfig } from './types.ts';

export interface ProxyConfigError {
  /** JSON Pointer (RFC 6901) into the document, "" for the root. */
  path: string;
  message: string;
}

export type ProxyConfigValidation =
  | { ok: true; config: ProxyConfig }
  | { ok: false; errors: ProxyConfigError[] };

const MAX_REPORTED_ERRORS = 100;

/**
 * Validates a parsed JSON document and returns it with defaults filled in. The input is not modified.
 * On failure returns every error found (schema errors first; cross-field rules only run on a document
 * that satisfies the schema), at most 100.
 */
export function validateProxyConfig(json: unknown): ProxyConfigValidation {
  // Defaults are written into the document, so work on a copy; structuredClone also rejects non-JSON values.
  let doc: unknown;
  try {
    doc = structuredClone(json);
  } catch {
    return { ok: false, errors: [{ path: '', message: 'document is not plain JSON data' }] };
  }
  if (!validateSchema(doc)) {
    const errors = (validateSchema.errors ?? []).slice(0, MAX_REPORTED_ERRORS).map((e) => ({
      path:
        e.keyword === 'required'
          ? `${e.instancePath}/${escapePointer(String(e.params.missingProperty))}`
          : e.instancePath,
      message: e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid'),
    }));
    return { ok: false, errors };
  }
  const config = doc as ProxyConfig;
  const errors = checkCrossFieldRules(config);
  if (errors.length > 0) return { ok: false, errors: errors.slice(0, MAX_REPORTED_ERRORS) };
  return { ok: true, config };
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Splits a SPIFFE ID already matching the schema pattern into its parts. */
export function parseSpiffeId(
  id: string,
): { trustDomain: string; namespace: string; serviceAccount: string } | null {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  if (m === null) return null;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

function checkCrossFieldRules(config: ProxyConfig): ProxyConfigError[] {
  const errors: ProxyConfigError[] = [];
  const add = (path: string, message: string) => errors.push({ path, message });

  const self = parseSpiffeId(config.identity.spiffeId);
  if (self !== null && self.trustDomain !== config.identity.trustDomain) {
    add('/identity/spiffeId', `trust domain "${self.trustDomain}" differs from identity.trustDomain`);
  }
  const ownNamespace = self?.namespace ?? '';

  const l = config.listeners;
  const listenerPorts: [string, number][] = [
    ['outboundPort', l.outboundPort],
    ['inboundPort', l.inboundPort],
    ['adminPort', l.adminPort],
  ];
  for (let i = 0; i < listenerPorts.length; i++) {
    for (let j = 0; j < i; j++) {
      if (listenerPorts[i]![1] === listenerPorts[j]![1]) {
        add(`/listeners/${listenerPorts[i]![0]}`, `same port as listeners.${listenerPorts[j]![0]}`);
      }
    }
  }

  const plaintextOnly = config.trustAnchors.length === 0;
  if (plaintextOnly && config.policyMode !== 'permissive') {
    add('/trustAnchors', 'may be empty only when policyMode is "permissive"');
  }

  // Backends, indexed by namespace/name.
  const backendKeys = new Set<string>();
  config.outbound.backends.forEach((b, bi) => {
    const key = `${b.namespace}/${b.name}`;
    if (backendKeys.has(key)) add(`/outbound/backends/${bi}`, `duplicate backend ${key}`);
    backendKeys.add(key);
    const ports = new Set<number>();
    b.ports.forEach((p, pi) => {
      if (ports.has(p.port)) add(`/outbound/backends/${bi}/ports/${pi}/port`, `duplicate port ${p.port}`);
      ports.add(p.port);
      const seen = new Set<string>();
      p.endpoints.forEach((e, ei) => {
        const path = `/outbound/backends/${bi}/ports/${pi}/endpoints/${ei}`;
        const ek = `${e.address}|${e.port}`;
        if (seen.has(ek)) add(path, `duplicate endpoint ${e.address} port ${e.port}`);
        seen.add(ek);
        if (plaintextOnly && e.identity !== null) {
          add(`${path}/identity`, 'an endpoint cannot expect an identity when trustAnchors is empty');
        }
      });
    });
  });

  const dnsOwners = new Map<string, number>();
  const ipPortOwners = new Map<string, number>();
  const serviceKeys = new Set<string>();
  config.outbound.services.forEach((s, si) => {
    const base = `/outbound/services/${si}`;
    const key = `${s.namespace}/${s.name}`;
    if (serviceKeys.has(key)) add(base, `duplicate service ${key}`);
    serviceKeys.add(key);
    if (!backendKeys.has(key)) add(base, `no entry in outbound.backends for the root service ${key}`);

    s.dnsNames.forEach((name, ni) => {
      const owner = dnsOwners.get(name);
      if (owner !== undefined && owner !== si) {
        add(`${base}/dnsNames/${ni}`, `"${name}" is also a name of outbound.services[${owner}]`);
      }
      dnsOwners.set(name, si);
      if (!name.includes('.') && s.namespace !== ownNamespace) {
        add(
          `${base}/dnsNames/${ni}`,
          `short name "${name}" is only valid in the proxy's namespace "${ownNamespace}"`,
        );
      }
    });

    const ports = new Set<number>();
    s.ports.forEach((p, pi) => {
      if (ports.has(p.port)) add(`${base}/ports/${pi}/port`, `duplicate port ${p.port}`);
      ports.add(p.port);
      for (const ip of s.clusterIPs) {
        const k = `${ip}|${p.port}`;
        const owner = ipPortOwners.get(k);
        if (owner !== undefined && owner !== si) {
          add(`${base}/ports/${pi}/port`, `${ip}:${p.port} also belongs to outbound.services[${owner}]`);
        }
        ipPortOwners.set(k, si);
      }
    });

    const routeNames = new Set<string>();
    s.routes.forEach((r, ri) => {
      if (routeNames.has(r.name)) add(`${base}/routes/${ri}/name`, `duplicate route name "${r.name}"`);
      routeNames.add(r.name);
      for (const [mi, m] of r.matches.entries()) checkMatch(m, `${base}/routes/${ri}/matches/${mi}`, add);
      if (r.retry !== null) checkBackoff(r.retry.backoff, `${base}/routes/${ri}/retry/backoff`, add);
    });
    if (s.defaultRoute.retry !== null) {
      checkBackoff(s.defaultRoute.retry.backoff, `${base}/defaultRoute/retry/backoff`, add);
    }

    if (s.split !== null) {
      const names = new Set<string>();
      s.split.backends.forEach((b, bi) => {
        const path = `${base}/split/backends/${bi}/service`;
        if (names.has(b.service)) add(path, `duplicate backend "${b.service}"`);
        names.add(b.service);
        if (!backendKeys.has(`${s.namespace}/${b.service}`)) {
          add(path, `no entry in outbound.backends for ${s.namespace}/${b.service}`);
        }
      });
      let total = 0;
      for (const b of s.split.backends) total += b.weight;
      if (!Number.isSafeInteger(total)) add(`${base}/split/backends`, 'sum of weights is too large');
    }
  });

  config.inbound.ports.forEach((p, pi) => {
    const base = `/inbound/ports/${pi}`;
    if (config.inbound.ports.findIndex((q) => q.port === p.port) !== pi) {
      add(`${base}/port`, `duplicate port ${p.port}`);
    }
    if (p.port === l.inboundPort || p.port === l.outboundPort) {
      add(`${base}/port`, 'is a proxy listener port');
    }
    const names = new Set<string>();
    p.authorizations.forEach((a, ai) => {
      const path = `${base}/authorizations/${ai}`;
      if (names.has(a.name)) add(`${path}/name`, `duplicate authorization name "${a.name}"`);
      names.add(a.name);
      if (a.httpMatches !== null) {
        if (p.protocol === 'opaque' || p.protocol === 'udp') {
          add(`${path}/httpMatches`, `must be null on a port with protocol "${p.protocol}"`);
        }
        for (const [mi, m] of a.httpMatches.entries()) checkMatch(m, `${path}/httpMatches/${mi}`, add);
      }
    });
  });

  checkBackoff(config.circuitBreaker.backoff, '/circuitBreaker/backoff', add);
  return errors;
}

function checkMatch(m: HttpMatch, path: string, add: (path: string, message: string) => void): void {
  if (m.pathRegex !== null) {
    const c = classifyRegex(m.pathRegex);
    if (!c.ok) add(`${path}/pathRegex`, `${c.reason} (at offset ${c.position})`);
  }
  m.headers.forEach((h, hi) => {
    const c = classifyRegex(h.valueRegex);
    if (!c.ok) add(`${path}/headers/${hi}/valueRegex`, `${c.reason} (at offset ${c.position})`);
  });
}

function checkBackoff(
  b: { baseMs: number; maxMs: number },
  path: string,
  add: (path: string, message: string) => void,
): void {
  if (b.baseMs > b.maxMs) add(`${path}/baseMs`, 'must not exceed maxMs');
}
