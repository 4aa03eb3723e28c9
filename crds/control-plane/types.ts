// The control-plane contract (control.weft.dev/v1alpha1) between the operator and proxies: certificate issuance
// and config streaming over HTTPS. README.md is the prose reference; schema.ts holds the JSON Schemas.
import type { ProxyConfig } from '../proxy-config/types.ts';

export const CONTROL_PLANE_API_VERSION = 'v1alpha1';
/** Default HTTPS port of the operator's control-plane server */
export const DEFAULT_CONTROL_PLANE_PORT = 15012;
/** The audience a projected ServiceAccount token must be bound to for certificate requests. */
export const IDENTITY_TOKEN_AUDIENCE = 'weft.dev/identity';
export const CERTIFICATES_PATH = '/v1alpha1/certificates';
export const CONFIG_PATH = '/v1alpha1/config';
/**
 * The Upgrade token a client sends to get the config stream as a bare NDJSON byte stream after
 * `101 Switching Protocols` (README.md, section 2), instead of a chunked 200 response.
 */
export const CONFIG_STREAM_UPGRADE = 'weft-config-stream';
/**
 * Where a proxy asks for a ticket to the sealed config stream (README.md, section 3): the same query and the same
 * authorization as CONFIG_PATH, over mTLS; the stream itself then runs on a plain TCP connection.
 */
export const CONFIG_TICKETS_PATH = '/v1alpha1/config-tickets';
/** Default TCP port of the sealed config stream. */
export const DEFAULT_CONFIG_STREAM_PORT = 15013;
/** Content type of the config stream: one JSON document per line. */
export const CONFIG_STREAM_CONTENT_TYPE = 'application/x-ndjson';
/** Default interval between keepalive messages on an idle config stream. */
export const DEFAULT_PING_INTERVAL_MS = 15_000;

/** Reference to the pod a proxy runs in. */
export interface PodReference {
  namespace: string;
  name: string;
}

/** POST /v1alpha1/certificates body. Header: `Authorization: Bearer <projected token, audience weft.dev/identity>`. */
export interface CertificateRequest {
  /** PKCS#10 CSR, PEM, ECDSA P-256 key generated in the pod, signed with ecdsa-with-SHA256. */
  csr: string;
  pod: PodReference;
}

/** 200 answer to a CertificateRequest. */
export interface CertificateResponse {
  /** The SPIFFE ID written into the leaf: spiffe://<trust-domain>/ns/<ns>/sa/<serviceaccount>. */
  spiffeId: string;
  /** PEM: the leaf first, then the issuer (intermediate). */
  certificateChain: string;
  /** PEM certificates to trust as roots; during a rotation old and new. */
  trustAnchors: string[];
  /** RFC 3339. */
  notBefore: string;
  notAfter: string;
  /** RFC 3339: request a new certificate at or after this time (70% of the validity). */
  renewAfter: string;
}

/** 200 answer to POST CONFIG_TICKETS_PATH. */
export interface ConfigTicketResponse {
  /** 16 random bytes, base64url: named in the hello, and the salt of the stream's keys. Single use. */
  ticket: string;
  /**
   * Where to open the stream: this replica's own address (tickets are kept by the replica that issued them), or
   * null for the host the client used for this request.
   */
  host: string | null;
  port: number;
  /** RFC 3339: the ticket is refused after this (a few seconds). */
  expiresAt: string;
}

/** Stable error reasons; each maps to one HTTP status (see ERROR_STATUS). */
export const ERROR_REASONS = [
  'BadRequest',
  'MalformedCsr',
  'UnsupportedKey',
  'UnsupportedSignature',
  'BadSignature',
  'Unauthenticated',
  'TokenRejected',
  'PodMismatch',
  'ServiceAccountMismatch',
  'PodNotFound',
  'IdentityMismatch',
  'NotFound',
  'SealedStreamOff',
  'MethodNotAllowed',
  'Unavailable',
  'Internal',
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

export const ERROR_STATUS: Record<ErrorReason, number> = {
  BadRequest: 400,
  MalformedCsr: 400,
  UnsupportedKey: 400,
  UnsupportedSignature: 400,
  BadSignature: 400,
  Unauthenticated: 401,
  TokenRejected: 401,
  PodMismatch: 403,
  ServiceAccountMismatch: 403,
  PodNotFound: 403,
  IdentityMismatch: 403,
  NotFound: 404,
  SealedStreamOff: 404,
  MethodNotAllowed: 405,
  Unavailable: 503,
  Internal: 500,
};

/** Every non-2xx answer, and nothing else, has this JSON body. */
export interface ErrorResponse {
  reason: ErrorReason;
  message: string;
  /** JSON Pointer into the request body, a header (`header:authorization`) or a query parameter (`query:pod`); null if none. */
  field: string | null;
}

/** GET /v1alpha1/config stream messages, one per line. */
export interface ConfigMessage {
  type: 'config';
  /** Content hash of the config; equals config.version. Send it back as `since` when reconnecting. */
  version: string;
  config: ProxyConfig;
}

export interface PingMessage {
  type: 'ping';
}

/** A (namespace, name) pair naming an outbound service or backend to remove. */
export interface OutboundKey {
  namespace: string;
  name: string;
}

/**
 * Sent instead of a full config to subscribers that asked for patches (`accept=patch`) and already hold `base`:
 * the new document is `base` with every top-level field but `outbound` replaced by `config`'s, and in
 * outbound.services / outbound.backends the entries named in `remove` dropped and the `upsert` entries replacing
 * the entry of the same namespace/name (or added). Order of services and backends carries no meaning.
 * A proxy that does not hold `base` must reconnect without `since` to get a full config.
 */
export interface PatchMessage {
  type: 'patch';
  version: string;
  base: string;
  config: Omit<ProxyConfig, 'outbound'>;
  outbound: {
    services: { upsert: ProxyConfig['outbound']['services']; remove: OutboundKey[] };
    backends: { upsert: ProxyConfig['outbound']['backends']; remove: OutboundKey[] };
  };
}

export type StreamMessage = ConfigMessage | PatchMessage | PingMessage;
