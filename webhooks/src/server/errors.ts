// Errors of the webhook server, each with a stable code (a metric label) and the HTTP status it maps to.

export const WEBHOOK_ERRORS = {
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  BadRequest: 400,
  HandlerTimeout: 503,
  Unavailable: 503,
  Internal: 500,
} as const;

export type WebhookErrorCode = keyof typeof WEBHOOK_ERRORS;

export class WebhookError extends Error {
  readonly code: WebhookErrorCode;
  readonly status: number;
  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = WEBHOOK_ERRORS[code];
  }
}
