// Defaults of the webhook server, in one place. The apiserver gives a webhook 10 s at most (timeoutSeconds)
// and sends objects of at most ~3 MiB (etcd's request limit), so both bound what we accept.

export const WEBHOOK_LIMITS = {
  /** Largest request body accepted; larger gets 413 before it is read. */
  maxBodyBytes: 3 * 1024 * 1024,
  /** Time to receive a whole request (headers and body); slower clients get 408. */
  requestTimeoutMs: 10_000,
  /** Time to receive the headers. */
  headersTimeoutMs: 5_000,
  /** Time a handler may take before the request is answered 503. */
  handlerTimeoutMs: 8_000,
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs: 30_000,
  /** Connections accepted at once; beyond that the kernel queue holds them. */
  maxConnections: 1024,
} as const;

export type WebhookLimits = { -readonly [K in keyof typeof WEBHOOK_LIMITS]: number };
