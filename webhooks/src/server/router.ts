// Handlers registered by path. A handler is a pure-ish function from a parsed request to a response, so the
// conversion, validation and (later) injection endpoints plug into one server and are tested without it.
import { WebhookError } from './errors.ts';

export interface WebhookRequest {
  method: string;
  path: string;
  /** Raw body (empty for GET). */
  body: Buffer;
  contentType: string | undefined;
  /** Aborted when the client goes away or the handler's time is up. */
  signal: AbortSignal;
}

export interface WebhookResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
  /** Extra label for metrics, e.g. `allowed`/`denied`; optional. */
  outcome?: string;
}

export type WebhookHandler = (req: WebhookRequest) => Promise<WebhookResponse> | WebhookResponse;

export interface Route {
  methods: readonly string[];
  handler: WebhookHandler;
}

export class WebhookRouter {
  readonly #routes = new Map<string, Route>();

  /** Registers `handler` at `path` (exact match). Re-registering a path is a programming error. */
  register(path: string, methods: readonly string[], handler: WebhookHandler): this {
    if (this.#routes.has(path)) throw new Error(`webhook path ${path} is already registered`);
    this.#routes.set(path, { methods, handler });
    return this;
  }

  paths(): string[] {
    return [...this.#routes.keys()];
  }

  /** The route for a request, or a WebhookError saying why there is none. */
  resolve(method: string, path: string): Route {
    const route = this.#routes.get(path);
    if (route === undefined) throw new WebhookError('NotFound', `no handler at ${path}`);
    if (!route.methods.includes(method))
      throw new WebhookError('MethodNotAllowed', `${method} is not allowed on ${path}`);
    return route;
  }
}

/** A JSON response. */
export function json(status: number, value: unknown, outcome?: string): WebhookResponse {
  return {
    status,
    contentType: 'application/json',
    body: JSON.stringify(value),
    ...(outcome ? { outcome } : {}),
  };
}

/** Parses a JSON request body, or throws a 400/415 WebhookError. */
export function parseJsonBody(req: WebhookRequest): unknown {
  if (req.contentType !== undefined && !/^application\/json\b/i.test(req.contentType)) {
    throw new WebhookError(
      'UnsupportedMediaType',
      `content type must be application/json, not ${req.contentType}`,
    );
  }
  try {
    return JSON.parse(req.body.toString('utf8')) as unknown;
  } catch {
    throw new WebhookError('BadRequest', 'body is not JSON');
  }
}
