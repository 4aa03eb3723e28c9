// JSON Schema (draft 2020-12) of the proxy config contract. This object is authoritative; schema.json is
// its published copy, regenerated and checked by schema.test.ts. Every field carries its documentation in
// `description`, and defaults in `default` (validateProxyConfig fills them in).

import {
  DEFAULT_RETRY_BACKOFF,
  DEFAULT_RETRY_ON,
  PROXY_CONFIG_API_VERSION,
  PROXY_CONFIG_SCHEMA_ID,
  RETRY_CONDITIONS,
} from './types.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** Pattern of a lowercase DNS name (RFC 1123 subdomain), as Service DNS names are. */
export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_1035_LABEL = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const TRUST_DOMAIN = '^[a-z0-9._-]+$';
const SPIFFE_ID =
  '^spiffe://[a-z0-9._-]+/ns/[a-z0-9]([-a-z0-9]*[a-z0-9])?/sa/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$';
/** Patterns (strings, as the schema holds them) of an HTTP token, and of a lowercase one (header names). */
export const HTTP_TOKEN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
export const LOWER_HTTP_TOKEN = "^[a-z0-9!#$%&'*+.^_`|~-]+$";

/** Endpoints per backend port a config may carry; the operator programs the first this many (by address). */
export const MAX_ENDPOINTS_PER_PORT = 10000;
/** Authorizations per inbound port a config may carry; the operator programs the first this many (by name). */
export const MAX_AUTHORIZATIONS_PER_PORT = 1000;
/** HTTP routes per outbound service; the operator programs the first this many (in TrafficSplit order). */
export const MAX_ROUTES_PER_SERVICE = 1000;
/** Limits of one HTTP match (httpMatch), which the compiler checks before it programs a match. */
export const HTTP_MATCH_LIMITS = {
  nameLength: 253,
  pathRegexLength: 1024,
  methods: 64,
  methodLength: 32,
  headers: 64,
  headerNameLength: 256,
  valueRegexLength: 1024,
} as const;
/** Route names (<httproutegroup>/<match>): at most this long. */
export const MAX_ROUTE_NAME_LENGTH = 253;
/** HTTP matches per authorization; the operator programs the first this many (in TrafficTarget rule order). */
export const MAX_HTTP_MATCHES_PER_AUTHORIZATION = 1000;

const port = (description: string) => ({ type: 'integer', minimum: 1, maximum: 65535, description });
const durationMs = (description: string, dflt?: number, min = 0) => ({
  type: 'integer',
  minimum: min,
  maximum: 86_400_000,
  description: `${description} Milliseconds.`,
  ...(dflt === undefined ? {} : { default: dflt }),
});

export const proxyConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: PROXY_CONFIG_SCHEMA_ID,
  title: 'Weft proxy config',
  description:
    'Everything one Weft proxy needs to serve its pod, computed by the operator from the cluster snapshot and pushed to the proxy. The proxy validates every document against this schema (plus the cross-field checks of validateProxyConfig) and keeps the last good document when a new one is invalid.',
  type: 'object',
  additionalProperties: false,
  required: [
    'apiVersion',
    'version',
    'generatedAt',
    'identity',
    'trustAnchors',
    'policyMode',
    'outbound',
    'inbound',
  ],
  properties: {
    apiVersion: {
      const: PROXY_CONFIG_API_VERSION,
      description: 'Version of this contract. A proxy refuses documents of a version it does not know.',
    },
    version: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:+=-]{0,127}$',
      description:
        'Content version: a hash of the document without version and generatedAt (for example "sha256:<hex>"). Equal versions mean equal content, so the proxy skips re-applying a version it already runs.',
    },
    generatedAt: {
      type: 'string',
      format: 'date-time',
      description:
        'When the operator computed this document (RFC 3339). Informational: shown in the config dump.',
    },
    identity: {
      type: 'object',
      additionalProperties: false,
      required: ['spiffeId', 'trustDomain'],
      description: "The proxy's own workload identity, which its leaf certificate carries in the URI SAN.",
      properties: {
        spiffeId: {
          type: 'string',
          pattern: SPIFFE_ID,
          maxLength: 2048,
          description:
            'SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>. Its trust domain must equal trustDomain; its namespace decides which short DNS names are legal in outbound.services.',
        },
        trustDomain: {
          type: 'string',
          pattern: TRUST_DOMAIN,
          maxLength: 255,
          description: 'Trust domain of the mesh (for example "cluster.local").',
        },
      },
    },
    trustAnchors: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'string',
        maxLength: 65536,
        pattern: '^-----BEGIN CERTIFICATE-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END CERTIFICATE-----\\s*$',
        description: 'One PEM-encoded CA certificate.',
      },
      description:
        'Root certificates the proxy trusts to verify peers (PEM). During a rotation the bundle holds the old and the new anchor. May be empty only in a plaintext test config: then policyMode must be "permissive" and no endpoint may expect an identity, so the proxy neither originates nor requires mTLS, and never downgrades a connection that expects it.',
    },
    policyMode: {
      enum: ['permissive', 'enforcing'],
      description:
        'Inbound policy. "permissive": every client is allowed on every port (authorizations are still evaluated for metrics labels), unauthenticated clients as inbound.unauthenticated.permissive says. "enforcing": deny by default (SMI); a request is allowed only when an authorization of its port matches; unauthenticated clients as inbound.unauthenticated.enforcing says.',
    },
    listeners: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Where the proxy listens. Defaults avoid the ports of Linkerd (4140/4143/4191), Istio (15000/15001/15006/15020/15021/15090) and OSM/Envoy (15000/15001/15003) so meshes can coexist during a migration. The three ports must differ.',
      properties: {
        outboundPort: { ...port('Port that proxy-init redirects outgoing TCP to.'), default: 15101 },
        inboundPort: { ...port('Port that proxy-init redirects incoming TCP to.'), default: 15106 },
        adminPort: {
          ...port(
            "Port of the admin server: /metrics, /ready, /live, config dump. Informational: the admin server starts before the first config, so the proxy's --admin-port (the injector's WEFT_ADMIN_PORT) decides.",
          ),
          default: 15190,
        },
        adminAddress: {
          type: 'string',
          anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }],
          default: '0.0.0.0',
          description:
            "Address the admin server binds (Prometheus scrapes it from outside the pod). Informational: the admin server starts before the first config, so the proxy's --admin-address decides; unset, it binds every address, IPv6 and IPv4.",
        },
        detectTimeoutMs: durationMs(
          'How long protocol detection waits for the first bytes before treating the connection as opaque TCP.',
          1000,
          1,
        ),
        opaquePorts: {
          type: 'array',
          uniqueItems: true,
          maxItems: 1024,
          items: port('A destination port.'),
          default: [21, 25, 110, 143, 587, 3306, 4222, 5432, 6379, 11211],
          description:
            'Destination ports proxied as opaque TCP without detection, in both directions. The default lists server-first protocols (the client sends nothing, so detection could only time out) and common binary ones: FTP, SMTP, POP3, IMAP, submission, MySQL, NATS, PostgreSQL, Redis, memcached.',
        },
      },
    },
    outbound: {
      type: 'object',
      additionalProperties: false,
      required: ['services', 'backends'],
      description: 'Traffic the application sends.',
      properties: {
        services: {
          type: 'array',
          maxItems: 20000,
          items: { $ref: '#/$defs/outboundService' },
          description:
            'Logical services, found by cluster IP and port or by the request authority (DNS name). Traffic to anything else is forwarded as-is to its original destination (passthrough), in plaintext.',
        },
        backends: {
          type: 'array',
          maxItems: 20000,
          items: { $ref: '#/$defs/backend' },
          description:
            'Concrete services and their endpoints. Every service in outbound.services and every split backend has exactly one entry here (possibly without endpoints: a backend may not exist yet).',
        },
      },
    },
    inbound: {
      type: 'object',
      additionalProperties: false,
      required: ['ports'],
      description: 'Traffic the application receives.',
      properties: {
        unauthenticated: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Whether clients without a verified mesh identity (plaintext, unmeshed, or a TLS session not from the mesh) are allowed, per policy mode, before authorizations are consulted. An authorization source of kind "unauthenticated" allows them on its port and routes even when this says false (used for kubelet probes).',
          properties: {
            permissive: {
              type: 'boolean',
              default: true,
              description: 'In permissive mode, allow unauthenticated clients on every port.',
            },
            enforcing: {
              type: 'boolean',
              default: false,
              description:
                'In enforcing mode, allow unauthenticated clients wherever an authorization matches the port and route regardless of its sources. Default false: only listed sources are allowed.',
            },
          },
        },
        ports: {
          type: 'array',
          maxItems: 1024,
          items: { $ref: '#/$defs/inboundPort' },
          description:
            'Ports of the pod that have authorizations. In enforcing mode a port not listed here refuses every connection (TCP) or answers 403 (HTTP).',
        },
      },
    },
    balancer: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Endpoint choice: peak-EWMA latency with power of two choices.',
      properties: {
        decayMs: durationMs('Time constant of the latency moving average.', 10000, 1),
        defaultRttMs: durationMs('Latency assumed for an endpoint before its first response.', 30),
      },
    },
    retryBudget: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Limits retries so they cannot multiply load during an outage: over the window, retries may not exceed retryRatio times the requests plus minRetriesPerSecond times the window length.',
      properties: {
        retryRatio: {
          type: 'number',
          minimum: 0,
          maximum: 1000,
          default: 0.2,
          description: 'Retries allowed per original request, on average over the window.',
        },
        minRetriesPerSecond: {
          type: 'integer',
          minimum: 0,
          maximum: 100000,
          default: 10,
          description: 'Retries allowed per second even without traffic, so a quiet service can still retry.',
        },
        windowMs: durationMs('Length of the sliding window.', 10000, 1000),
        maxBufferedBodyBytes: {
          type: 'integer',
          minimum: 0,
          maximum: 16777216,
          default: 65536,
          description:
            'A request is retryable only if its whole body fits in this many bytes (the proxy buffers it to replay it).',
        },
      },
    },
    circuitBreaker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Per-endpoint failure accrual: after consecutiveFailures failures in a row the endpoint is skipped; after a backoff one probe request is let through; a success closes it, a failure doubles the backoff.',
      properties: {
        consecutiveFailures: {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
          default: 7,
          description: 'Failures in a row that open the circuit.',
        },
        backoff: { $ref: '#/$defs/backoff', default: { baseMs: 1000, maxMs: 60000, jitter: 0.5 } },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Resource limits and connection timeouts.',
      properties: {
        maxInboundConnections: {
          type: 'integer',
          minimum: 1,
          maximum: 1000000,
          default: 10000,
          description: 'Concurrent inbound connections; more are refused.',
        },
        maxOutboundConnections: {
          type: 'integer',
          minimum: 1,
          maximum: 1000000,
          default: 10000,
          description: 'Concurrent outbound connections accepted from the application; more are refused.',
        },
        maxHeaderBytes: {
          type: 'integer',
          minimum: 1024,
          maximum: 1048576,
          default: 16384,
          description: 'Largest request head (request line plus headers) accepted; larger gets 431.',
        },
        maxHeaderCount: {
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 100,
          description: 'Most header fields accepted in one request; more gets 431.',
        },
        connectTimeoutMs: durationMs('Timeout to establish a connection to an endpoint.', 1000, 1),
        headersTimeoutMs: durationMs('Time allowed to receive a complete request head.', 10000, 1),
        idleTimeoutMs: durationMs(
          'An idle connection is closed after this long, and so is an exchange whose client stalls it this long (a request body that stops arriving: 408 body-timeout; a response it stops reading).',
          60000,
          1,
        ),
        drainTimeoutMs: durationMs('Time given to in-flight requests on shutdown.', 10000),
      },
    },
  },
  $defs: {
    outboundService: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'namespace', 'clusterIPs', 'dnsNames', 'ports'],
      description: 'A logical (apex) Service the application may call.',
      properties: {
        name: { type: 'string', pattern: DNS_1035_LABEL, maxLength: 63, description: 'Service name.' },
        namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63, description: 'Service namespace.' },
        clusterIPs: {
          type: 'array',
          uniqueItems: true,
          maxItems: 2,
          items: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
          description: 'The Service cluster IPs (one per IP family); empty for a headless Service.',
        },
        dnsNames: {
          type: 'array',
          uniqueItems: true,
          maxItems: 8,
          items: {
            type: 'string',
            maxLength: 253,
            pattern: DNS_SUBDOMAIN,
          },
          description:
            "Names matched against the request authority (without port): name.ns.svc.<cluster-domain>, name.ns.svc, name.ns, and the short name only when the service is in the proxy's own namespace. Unique across services.",
        },
        ports: {
          type: 'array',
          minItems: 1,
          maxItems: 256,
          items: { $ref: '#/$defs/servicePort' },
          description: 'Service ports, unique by port number.',
        },
        routes: {
          type: 'array',
          maxItems: MAX_ROUTES_PER_SERVICE,
          default: [],
          items: { $ref: '#/$defs/outboundRoute' },
          description:
            'HTTP routes, tried in order; the first route with a matching match wins. Built from the HTTPRouteGroups a TrafficSplit lists in spec.matches (and from per-route policy). Requests that match no route use defaultRoute.',
        },
        defaultRoute: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Policy for HTTP requests that match no route, and for all opaque TCP of this service.',
          properties: {
            useSplit: {
              type: 'boolean',
              default: true,
              description:
                'Whether unmatched requests use the split. True for a TrafficSplit without matches; false when the TrafficSplit lists matches (others go to the root service, as if unsplit).',
            },
            timeoutMs: { $ref: '#/$defs/timeout', default: null },
            retry: { $ref: '#/$defs/retryPolicy', default: null },
          },
        },
        split: { $ref: '#/$defs/split', default: null },
      },
    },
    servicePort: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: {
        port: port('Service port.'),
        name: {
          type: ['string', 'null'],
          maxLength: 63,
          default: null,
          description: 'Port name, for metrics and to pair with endpoint ports.',
        },
        protocol: { $ref: '#/$defs/protocol', default: 'detect' },
      },
    },
    protocol: {
      enum: ['detect', 'http1', 'http2', 'grpc', 'opaque', 'udp'],
      description:
        'Protocol hint: "detect" sniffs the first bytes (HTTP/1, HTTP/2 prior knowledge, TLS, else opaque); "http1", "http2", "grpc" skip detection; "opaque" proxies TCP without detection; "udp" is a UDP port (authorized by port only). Set from appProtocol, the port name or the opaque-ports annotation.',
    },
    timeout: {
      type: ['integer', 'null'],
      minimum: 1,
      maximum: 86_400_000,
      description:
        'Whole-request timeout in milliseconds, including retries; null for none. Expiry answers 504.',
    },
    retryPolicy: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['maxRetries'],
      description:
        'When to retry a failed request; null never retries. A retry also needs an idempotent method (or retryNonIdempotent), a body within retryBudget.maxBufferedBodyBytes and budget left.',
      properties: {
        maxRetries: {
          type: 'integer',
          minimum: 0,
          maximum: 10,
          description: 'Retries after the first attempt.',
        },
        retryOn: {
          type: 'array',
          uniqueItems: true,
          minItems: 1,
          items: { enum: [...RETRY_CONDITIONS] },
          default: [...DEFAULT_RETRY_ON],
          description:
            'Failures that are retried: "5xx" any 5xx status; "gateway-error" 502, 503, 504; "connect-failure" the endpoint could not be reached (nothing was sent); "reset" the connection or stream was reset before a response; "grpc-unavailable" grpc-status 14.',
        },
        retryNonIdempotent: {
          type: 'boolean',
          default: false,
          description:
            'Also retry methods that are not idempotent (POST, PATCH, CONNECT): only for routes known to be safe, such as idempotent gRPC methods.',
        },
        perTryTimeoutMs: {
          type: ['integer', 'null'],
          minimum: 1,
          maximum: 86_400_000,
          default: null,
          description:
            'Timeout of each attempt in milliseconds; null for none (the route timeout still applies).',
        },
        backoff: {
          $ref: '#/$defs/backoff',
          default: { ...DEFAULT_RETRY_BACKOFF },
        },
      },
    },
    backoff: {
      type: 'object',
      additionalProperties: false,
      required: ['baseMs', 'maxMs'],
      description:
        'Exponential backoff: attempt n waits min(maxMs, baseMs * 2^n) scaled down by a random factor in (1 - jitter, 1]. baseMs must not exceed maxMs.',
      properties: {
        baseMs: {
          type: 'integer',
          minimum: 0,
          maximum: 3_600_000,
          description: 'First delay, milliseconds.',
        },
        maxMs: {
          type: 'integer',
          minimum: 0,
          maximum: 3_600_000,
          description: 'Largest delay, milliseconds.',
        },
        jitter: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 0.5,
          description: 'Fraction of the delay that is randomized (0 none, 1 full jitter).',
        },
      },
    },
    outboundRoute: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'matches'],
      properties: {
        name: {
          type: 'string',
          minLength: 1,
          maxLength: MAX_ROUTE_NAME_LENGTH,
          description:
            'Route name for metrics and logs: <httproutegroup>/<match name>. Unique within the service.',
        },
        matches: {
          type: 'array',
          minItems: 1,
          maxItems: 100,
          items: { $ref: '#/$defs/httpMatch' },
          description: 'The route applies when any of these matches (ORed).',
        },
        useSplit: {
          type: 'boolean',
          default: true,
          description:
            'Whether matching requests use the split (when there is one) or go to the root service.',
        },
        timeoutMs: { $ref: '#/$defs/timeout', default: null },
        retry: { $ref: '#/$defs/retryPolicy', default: null },
      },
    },
    httpMatch: {
      type: 'object',
      additionalProperties: false,
      description:
        'One HTTPRouteGroup match: every present condition must hold (path, method, and all headers). Omitted or empty conditions match everything.',
      properties: {
        name: {
          type: ['string', 'null'],
          maxLength: HTTP_MATCH_LIMITS.nameLength,
          default: null,
          description: 'Name of the match in its HTTPRouteGroup.',
        },
        pathRegex: {
          type: ['string', 'null'],
          maxLength: HTTP_MATCH_LIMITS.pathRegexLength,
          default: null,
          description:
            'Regex over the request path (without query string), anchored at the start (SMI semantics): "/api" matches "/api/v1". Must be in the Weft regex dialect (see classifyRegex); null matches every path.',
        },
        methods: {
          type: 'array',
          uniqueItems: true,
          maxItems: HTTP_MATCH_LIMITS.methods,
          default: [],
          items: { type: 'string', maxLength: HTTP_MATCH_LIMITS.methodLength, pattern: HTTP_TOKEN },
          description: 'Allowed methods (case-sensitive tokens); "*" or an empty list means any method.',
        },
        headers: {
          type: 'array',
          maxItems: HTTP_MATCH_LIMITS.headers,
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'valueRegex'],
            properties: {
              name: {
                type: 'string',
                maxLength: HTTP_MATCH_LIMITS.headerNameLength,
                pattern: LOWER_HTTP_TOKEN,
                description: 'Header name, lowercase.',
              },
              valueRegex: {
                type: 'string',
                maxLength: HTTP_MATCH_LIMITS.valueRegexLength,
                description:
                  'Regex over the header value, anchored at the start like pathRegex (".*Android.*" means contains). The header must be present; with several values, any may match.',
              },
            },
          },
          description: 'Header conditions, all of which must hold (ANDed).',
        },
      },
    },
    split: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['name', 'backends'],
      description: 'The TrafficSplit whose root is this service, or null when the service is not split.',
      properties: {
        name: {
          type: 'string',
          maxLength: 253,
          description: 'The TrafficSplit name (for metrics and events).',
        },
        backends: {
          type: 'array',
          minItems: 1,
          maxItems: 256,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['service', 'weight'],
            properties: {
              service: {
                type: 'string',
                pattern: DNS_1035_LABEL,
                maxLength: 63,
                description: 'Backend Service in the same namespace; may be the root service itself.',
              },
              weight: {
                type: 'integer',
                minimum: 0,
                maximum: 1_000_000_000,
                description:
                  'Relative integer weight (v1alpha1 quantities are converted by the operator). 0 receives no requests. When every weight is 0, requests go to the root service as if unsplit.',
              },
            },
          },
          description: 'Weighted backends, unique by service.',
        },
      },
    },
    backend: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'namespace', 'ports'],
      description: 'A concrete Service and its endpoints (from EndpointSlices).',
      properties: {
        name: { type: 'string', pattern: DNS_1035_LABEL, maxLength: 63, description: 'Service name.' },
        namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63, description: 'Service namespace.' },
        ports: {
          type: 'array',
          maxItems: 256,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['port', 'endpoints'],
            properties: {
              port: port('Service port these endpoints serve.'),
              endpoints: {
                type: 'array',
                maxItems: MAX_ENDPOINTS_PER_PORT,
                items: { $ref: '#/$defs/endpoint' },
                description: 'Endpoints, unique by address and port.',
              },
            },
          },
          description: 'Endpoints per service port, unique by port.',
        },
      },
    },
    endpoint: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'port', 'identity'],
      properties: {
        address: {
          type: 'string',
          anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }],
          description: 'Pod IP.',
        },
        port: port('Target port on the pod.'),
        identity: {
          type: ['string', 'null'],
          pattern: SPIFFE_ID,
          maxLength: 2048,
          description:
            'SPIFFE ID the endpoint must present; the proxy uses mTLS and refuses any other peer. null for an unmeshed endpoint: plaintext.',
        },
        ready: {
          type: 'boolean',
          default: true,
          description: 'EndpointSlice ready condition. Not-ready endpoints are not chosen.',
        },
        zone: {
          type: ['string', 'null'],
          maxLength: 253,
          default: null,
          description: 'Topology zone, for metrics and future locality preference.',
        },
        weight: {
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 1,
          description: 'Relative capacity; the balancer divides load by it.',
        },
      },
    },
    inboundPort: {
      type: 'object',
      additionalProperties: false,
      required: ['port', 'authorizations'],
      properties: {
        port: port('Container port.'),
        protocol: { $ref: '#/$defs/protocol', default: 'detect' },
        authorizations: {
          type: 'array',
          maxItems: MAX_AUTHORIZATIONS_PER_PORT,
          items: { $ref: '#/$defs/authorization' },
          description: 'Rules, ORed: access is additive (TrafficTarget semantics).',
        },
      },
    },
    authorization: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'sources', 'httpMatches'],
      description: 'One TrafficTarget rule applied to this port.',
      properties: {
        name: {
          type: 'string',
          minLength: 1,
          maxLength: 317,
          description:
            'Origin, for logs and metrics: <namespace>/<traffictarget> (63 + 1 + 253 characters at most).',
        },
        sources: {
          type: 'array',
          minItems: 1,
          maxItems: 1000,
          items: { $ref: '#/$defs/source' },
          description: 'Clients allowed by this rule (any of them).',
        },
        httpMatches: {
          type: ['array', 'null'],
          minItems: 1,
          maxItems: MAX_HTTP_MATCHES_PER_AUTHORIZATION,
          items: { $ref: '#/$defs/httpMatch' },
          description:
            'For HTTP: requests allowed (any match). null allows the whole port: a TCPRoute or UDPRoute rule, or an HTTPRouteGroup rule without matches. Must be null on opaque and udp ports.',
        },
      },
    },
    source: {
      type: 'object',
      required: ['kind'],
      properties: {
        kind: {
          enum: ['spiffeId', 'serviceAccount', 'unauthenticated'],
          description: 'Which kind of client.',
        },
      },
      discriminator: { propertyName: 'kind' },
      description: 'An allowed client.',
      oneOf: [
        {
          additionalProperties: false,
          required: ['kind', 'spiffeId'],
          properties: {
            kind: { const: 'spiffeId', description: 'A peer presenting exactly this SPIFFE ID.' },
            spiffeId: { type: 'string', pattern: SPIFFE_ID, maxLength: 2048, description: 'The SPIFFE ID.' },
          },
        },
        {
          additionalProperties: false,
          required: ['kind', 'namespace', 'name'],
          properties: {
            kind: {
              const: 'serviceAccount',
              description: "A peer whose SPIFFE ID names this ServiceAccount in the proxy's trust domain.",
            },
            namespace: {
              type: 'string',
              pattern: DNS_LABEL,
              maxLength: 63,
              description: 'ServiceAccount namespace.',
            },
            name: {
              type: 'string',
              pattern: '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$',
              maxLength: 253,
              description: 'ServiceAccount name.',
            },
          },
        },
        {
          additionalProperties: false,
          required: ['kind'],
          properties: {
            kind: {
              const: 'unauthenticated',
              description:
                'Any client, including plaintext ones (for example kubelet probes on their paths).',
            },
          },
        },
      ],
    },
  },
} as const;
