// The proxy's side of the control-plane contract (crds/control-plane): get a certificate for the
// workload key with the pod's projected ServiceAccount token, keep it renewed, and follow the config
// stream. Every connection to the operator checks the operator's SPIFFE ID against the trust anchors.
import { EventEmitter } from 'node:events';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { applyConfigPatch } from '../../../crds/control-plane/patch.ts';
import {
  exportSealedMaterial,
  SealedClient,
  type StreamKeys,
  streamKeys,
  TICKET_BYTES,
} from '../../../crds/control-plane/sealed.ts';
import {
  CONFIG_STREAM_UPGRADE,
  CONFIG_TICKETS_PATH,
  type ConfigTicketResponse,
  type PatchMessage,
} from '../../../crds/control-plane/types.ts';
import { MAX_TIMER_MS } from '../../../crds/duration.ts';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { ExponentialBackoff } from '../core/backoff.ts';
import type { RandomSource } from '../core/random.ts';
import {
  type CertificateFacts,
  certificateFacts,
  createCsr,
  generateWorkloadKey,
  renewalDelayMs,
} from './identity.ts';
import { NdjsonDecoder } from './ndjson.ts';

// Not node:fs/promises, which loads readline (0.5 MB of RSS; see agent.ts). The token is a small file.
const { readFileSync } = process.getBuiltinModule('node:fs');
const mathRandom: RandomSource = { next: Math.random };
/** Sealed attempts that fail before their first frame, in a row, before the stream is followed over TLS. */
const SEALED_FAILURES_BEFORE_TLS = 2;
/** How long the stream is then followed over TLS before a sealed stream is tried again. */
const SEALED_RETRY_AFTER_MS = 10 * 60_000;

export interface ControlPlaneSettings {
  /** host:port of the operator. */
  address: string;
  /** The SPIFFE ID the operator's serving certificate must carry. */
  serverIdentity: string;
  trustAnchorsPem: string;
  tokenPath: string;
  pod: { namespace: string; name: string };
  /** This workload's SPIFFE ID: spiffe://<trust-domain>/ns/<ns>/sa/<sa>. */
  spiffeId: string;
  logger: Logger;
  maxConfigBytes?: number;
  /** Reconnect when the stream stays silent this long (the operator pings more often). */
  silenceTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface WorkloadIdentity {
  privateKeyPem: string;
  certificateChainPem: string;
  trustAnchorsPem: string;
  facts: CertificateFacts;
}

export class ControlPlaneError extends Error {
  readonly reason: string;
  readonly status: number;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`control plane address "${address}" must be host:port`);
  }
  return { host, port };
}

/** node:tls hook: the operator is identified by its SPIFFE ID, not by a host name. */
export function expectSpiffeId(expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((s) => s.startsWith('URI:'))
      .map((s) => s.slice(4));
    return uris.includes(expected)
      ? undefined
      : new Error(`peer identity ${uris.join(',') || '(none)'} is not the expected ${expected}`);
  };
}

export class ControlPlaneClient extends EventEmitter<{
  identity: [WorkloadIdentity];
  config: [version: string, config: unknown];
  problem: [error: Error];
}> {
  readonly #s: ControlPlaneSettings;
  readonly #host: string;
  readonly #port: number;
  // At most 10 s between attempts: a returning operator is found quickly; jitter spreads a fleet out.
  readonly #backoff = new ExponentialBackoff({ baseMs: 500, maxMs: 10_000, jitter: 0.5 });
  #identity: WorkloadIdentity | undefined;
  #version = '';
  /** The last full document, the base that patches apply to. */
  #config: ProxyConfig | undefined;
  #stopped = false;
  #renewTimer: NodeJS.Timeout | undefined;
  /** Sealed attempts in a row that failed before their first frame; past SEALED_FAILURES_BEFORE_TLS, TLS for a while. */
  #sealedFailures = 0;
  /** Until then (epoch ms), the config stream is followed over TLS without asking for a ticket. */
  #tlsUntil = 0;
  /** Closes the current config stream: its request, and its socket once upgraded (the request no longer owns it). */
  #closeStream: (() => void) | undefined;

  constructor(settings: ControlPlaneSettings) {
    super();
    this.#s = settings;
    ({ host: this.#host, port: this.#port } = splitAddress(settings.address));
  }

  get identity(): WorkloadIdentity | undefined {
    return this.#identity;
  }

  /** Gets the first certificate (retrying), then keeps it renewed and follows the config stream. */
  async start(): Promise<void> {
    await this.#renewUntilDone();
    this.#followConfig(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    this.#closeStream?.();
  }

  async #renewUntilDone(): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        this.#identity = await this.requestCertificate();
        this.emit('identity', this.#identity);
        this.#scheduleRenewal();
        return;
      } catch (error) {
        const delay = this.#backoff.delayMs(attempt, mathRandom);
        this.#s.logger.warn({ err: error, retryInMs: Math.round(delay) }, 'certificate request failed');
        this.emit('problem', error as Error);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  #scheduleRenewal(): void {
    if (!this.#identity || this.#stopped) return;
    const delay = renewalDelayMs(this.#identity.facts, Date.now(), Math.random);
    this.#renewTimer = setTimeout(() => void this.#renewUntilDone(), Math.min(delay, MAX_TIMER_MS));
    this.#renewTimer.unref();
  }

  /** One CSR round trip with a fresh key; validates what comes back before anyone uses it. */
  async requestCertificate(): Promise<WorkloadIdentity> {
    const key = await generateWorkloadKey();
    const csr = await createCsr(key, this.#s.spiffeId);
    const token = readFileSync(this.#s.tokenPath, 'utf8').trim();
    const body = JSON.stringify({ csr, pod: this.#s.pod });
    const response = await this.#request('POST', '/v1alpha1/certificates', body, {
      headers: { authorization: `Bearer ${token}` },
    });
    const parsed = response as { certificateChain?: unknown; trustAnchors?: unknown };
    if (typeof parsed.certificateChain !== 'string' || !Array.isArray(parsed.trustAnchors)) {
      throw new ControlPlaneError(
        502,
        'BadResponse',
        'certificate response lacks certificateChain or trustAnchors',
      );
    }
    const facts = certificateFacts(parsed.certificateChain);
    if (!facts.spiffeIds.includes(this.#s.spiffeId)) {
      throw new ControlPlaneError(
        502,
        'WrongIdentity',
        `issued certificate is for ${facts.spiffeIds.join(',')}`,
      );
    }
    return {
      privateKeyPem: key.privateKeyPem,
      certificateChainPem: parsed.certificateChain,
      trustAnchorsPem: (parsed.trustAnchors as string[]).join(''),
      facts,
    };
  }

  /**
   * Where and how every connection to the operator goes: its address, the trust anchors, its SPIFFE ID checked,
   * no agent (one connection per request); with `identity`, the workload certificate presented (mTLS).
   */
  #tlsOptions(identity?: WorkloadIdentity): https.RequestOptions {
    return {
      host: this.#host,
      port: this.#port,
      ca: this.#s.trustAnchorsPem,
      ...(identity === undefined ? {} : { key: identity.privateKeyPem, cert: identity.certificateChainPem }),
      checkServerIdentity: expectSpiffeId(this.#s.serverIdentity),
      agent: false,
    };
  }

  /**
   * One JSON request over TLS. `o.identity` presents the workload certificate (mTLS); `o.onResponse` sees the TLS
   * socket before the response is read (the sealed stream exports its keys from it); `o.signal` aborts it.
   */
  #request(
    method: string,
    path: string,
    body: string,
    o: {
      headers?: Record<string, string>;
      identity?: WorkloadIdentity;
      onResponse?: (socket: TLSSocket) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<unknown> {
    const { identity, onResponse, signal } = o;
    return new Promise((resolve, reject) => {
      const req = https.request({
        ...this.#tlsOptions(identity),
        method,
        path,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...o.headers,
        },
        timeout: this.#s.requestTimeoutMs ?? 10_000,
        ...(signal === undefined ? {} : { signal }),
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.#s.address} in time`)));
      req.on('error', reject);
      req.on('response', (res) => {
        try {
          onResponse?.(res.socket as TLSSocket);
        } catch (error) {
          req.destroy(error as Error);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1024 * 1024) req.destroy(new Error(`response to ${path} larger than 1 MiB`));
          else chunks.push(c);
        });
        res.on('end', () => {
          let value: unknown;
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            value = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300 && value !== undefined) resolve(value);
          else {
            const e = (value ?? {}) as { reason?: string; message?: string };
            reject(
              new ControlPlaneError(
                status,
                e.reason ?? 'HTTPError',
                e.message ?? `HTTP ${status} from ${path}`,
              ),
            );
          }
        });
      });
      req.end(body);
    });
  }

  #followConfig(attempt: number): void {
    if (this.#stopped || !this.#identity) return;
    const identity = this.#identity;
    // Patches after the first full document: a weight change is then a few KiB instead of every service.
    const query = new URLSearchParams({
      pod: `${this.#s.pod.namespace}/${this.#s.pod.name}`,
      accept: 'patch',
    });
    if (this.#version && this.#config !== undefined) query.set('since', this.#version);
    const decoder = new NdjsonDecoder(this.#s.maxConfigBytes ?? 16 * 1024 * 1024);
    let received = false;
    /** The first message of this attempt arrived (logged once, with the transport). */
    let established = false;
    let silence: NodeJS.Timeout | undefined;
    let done = false;
    /** Closes what this attempt holds open: its request, its upgraded or sealed socket. */
    const closers: (() => void)[] = [];
    const close = () => {
      for (const c of closers) c();
    };
    this.#closeStream = close;
    // Every way a stream can end leads here exactly once: request error, response error, the response
    // closing (a peer that vanished or reset mid-stream emits no 'end'), or silence past the watchdog.
    const retry = (error: Error) => {
      clearTimeout(silence);
      close();
      if (done || this.#stopped) return;
      done = true;
      const next = received ? 0 : attempt + 1;
      const delay = this.#backoff.delayMs(next, mathRandom);
      this.#s.logger.warn({ err: error, retryInMs: Math.round(delay) }, 'config stream lost');
      this.emit('problem', error);
      setTimeout(() => this.#followConfig(next), delay).unref();
    };
    const arm = (ms: number, why: string) => {
      clearTimeout(silence);
      silence = setTimeout(() => retry(new Error(why)), ms);
    };
    const watchdog = () => arm(this.#s.silenceTimeoutMs ?? 45_000, 'config stream silent for too long');
    const onData = (chunk: Buffer) => {
      if (done) return;
      watchdog();
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (error) {
        retry(error as Error);
        return;
      }
      if (!established && messages.length > 0) {
        established = true;
        this.#s.logger.info({ transport: stream.transport }, 'config stream established');
      }
      for (const m of messages) {
        const message = m as { type?: string; version?: string; base?: string; config?: unknown };
        if (typeof message.version !== 'string') continue;
        if (message.type === 'config') {
          received = true;
          this.#version = message.version;
          this.#config = message.config as ProxyConfig;
          this.emit('config', message.version, message.config);
        } else if (message.type === 'patch') {
          if (this.#config === undefined || message.base !== this.#version) {
            // Not against what we hold: start over with a full document.
            const held = this.#version || 'nothing';
            this.#version = '';
            this.#config = undefined;
            retry(new Error(`config patch against ${message.base}, holding ${held}`));
            return;
          }
          let next: ProxyConfig;
          try {
            next = applyConfigPatch(this.#config, m as PatchMessage);
          } catch (error) {
            this.#version = '';
            this.#config = undefined;
            retry(error as Error);
            return;
          }
          received = true;
          this.#version = message.version;
          this.#config = next;
          this.emit('config', message.version, next);
        }
      }
    };
    const live = () => !done && !this.#stopped;
    const stream: StreamAttempt = {
      query,
      identity,
      transport: 'sealed',
      closers,
      retry,
      live,
      watchdog,
      onData,
    };
    // The connection itself (ticket request, connect, TLS, response headers, which the operator sends at once)
    // gets the request timeout, not the silence allowance: a SYN into a Service with no endpoints can hang with no
    // answer, and waiting the whole silence timeout there kept proxies off a returning operator for ~45 s.
    arm(this.#s.requestTimeoutMs ?? 10_000, `no config stream answer from ${this.#s.address} in time`);
    this.#openSealed(stream);
  }

  /**
   * The sealed stream (crds/control-plane/README.md, section 3): a ticket over mTLS, then the stream on a plain TCP
   * connection, each frame opened with keys both ends derive from that TLS session. Over TLS instead: for this
   * connection after the operator answers the ticket request 404 (it predates sealed streams); for
   * SEALED_RETRY_AFTER_MS after it answers 404 SealedStreamOff (it runs with them off), and after sealed attempts
   * failed before their first frame SEALED_FAILURES_BEFORE_TLS times in a row (the ticket's address or port
   * cannot be reached from here, or the stream is refused there).
   */
  #openSealed(a: StreamAttempt): void {
    if (Date.now() < this.#tlsUntil) {
      this.#openTls(a);
      return;
    }
    let exported: Buffer | undefined;
    const abort = new AbortController();
    a.closers.push(() => abort.abort());
    this.#request('POST', `${CONFIG_TICKETS_PATH}?${a.query}`, '', {
      identity: a.identity,
      onResponse: (socket) => {
        exported = exportSealedMaterial(socket);
      },
      signal: abort.signal,
    }).then(
      (value) => {
        // This attempt was given up (request timeout, stop) while the answer was on its way.
        if (!a.live()) return;
        let ticket: ParsedTicket;
        let keys: StreamKeys;
        try {
          ticket = parseTicket(value);
          keys = streamKeys(exported!, ticket.ticket);
        } catch (error) {
          a.retry(error as Error);
          return;
        }
        const socket = net.connect({ host: ticket.host ?? this.#host, port: ticket.port });
        a.closers.push(() => socket.destroy());
        socket.setNoDelay(true);
        let framed = false;
        // The request timer still runs: the operator answers the hello with a ping frame at once, and the first
        // frame (onData) hands the stream to the silence watchdog. A stream black-holed after the ticket is given
        // up in the request timeout, and counts toward following the stream over TLS.
        const sealed = new SealedClient(ticket.ticket, keys, (hello) => socket.write(hello));
        // However this attempt ends before its first frame (an error, a close, the request timer: a SYN that is
        // dropped ends only by the timer), it counts toward following the stream over TLS. The operator sends a
        // ping frame as soon as it accepts the hello, so a stream it accepted is framed at once.
        let counted = false;
        a.closers.push(() => {
          if (framed || counted || this.#stopped) return;
          counted = true;
          if (++this.#sealedFailures < SEALED_FAILURES_BEFORE_TLS) return;
          this.#sealedFailures = 0;
          this.#tlsUntil = Date.now() + SEALED_RETRY_AFTER_MS;
          this.#s.logger.warn(
            { address: `${ticket.host ?? this.#host}:${ticket.port}`, forMs: SEALED_RETRY_AFTER_MS },
            'sealed config stream failed before its first message several times: following the stream over TLS',
          );
        });
        socket.on('data', (chunk: Buffer) => {
          let plain: Buffer[];
          try {
            plain = sealed.push(chunk);
          } catch (error) {
            a.retry(error as Error);
            return;
          }
          for (const p of plain) {
            if (!framed) {
              framed = true;
              this.#sealedFailures = 0;
            }
            a.onData(p);
          }
        });
        socket.on('error', a.retry);
        socket.on('end', () => a.retry(new Error('config stream ended')));
        socket.on('close', () => a.retry(new Error('config stream closed')));
      },
      (error: unknown) => {
        if (!a.live()) return;
        if (error instanceof ControlPlaneError && error.status === 404) {
          // An operator that runs with sealed streams off (SealedStreamOff) is asked again only after a while, not
          // at every reconnect. Any other 404 is an operator that predates them: asked again at the next connection,
          // which, during a rollout, is the one to a current operator once the old one's stream breaks.
          const off = error.reason === 'SealedStreamOff';
          if (off) this.#tlsUntil = Date.now() + SEALED_RETRY_AFTER_MS;
          this.#s.logger.info(
            { address: this.#s.address, forMs: off ? SEALED_RETRY_AFTER_MS : null },
            off
              ? 'the operator serves no sealed config stream: following the stream over TLS'
              : 'the operator predates sealed config streams: following this stream over TLS',
          );
          this.#openTls(a);
          return;
        }
        a.retry(error as Error);
      },
    );
  }

  /** The config stream over the TLS connection itself: 101 Upgrade, or a chunked 200 from older operators. */
  #openTls(a: StreamAttempt): void {
    const req = https.request({
      ...this.#tlsOptions(a.identity),
      method: 'GET',
      path: `/v1alpha1/config?${a.query}`,
      headers: {
        accept: 'application/x-ndjson',
        connection: 'Upgrade',
        upgrade: CONFIG_STREAM_UPGRADE,
      },
    });
    /** The socket the operator took over with 101 Switching Protocols (null: a chunked 200 response). */
    let upgraded: Duplex | null = null;
    a.closers.push(() => {
      req.destroy();
      upgraded?.destroy();
    });
    const follow = (stream: NodeJS.ReadableStream) => {
      a.watchdog();
      stream.on('data', a.onData);
      stream.on('error', a.retry);
      stream.on('end', () => a.retry(new Error('config stream ended')));
      stream.on('close', () => a.retry(new Error('config stream closed')));
    };
    req.on('error', a.retry);
    // After an upgrade the request is over ('close') but the stream goes on, on the upgraded socket.
    req.on('close', () => {
      if (upgraded === null) a.retry(new Error('config stream closed'));
    });
    // Operators that take the stream over with Upgrade answer 101; earlier ones ignore the header and stream a
    // chunked 200 response. Both carry the same NDJSON.
    req.on('upgrade', (res, socket: Duplex, head: Buffer) => {
      upgraded = socket;
      if (this.#stopped) {
        socket.destroy();
        return;
      }
      const protocol = String(res.headers.upgrade ?? '').toLowerCase();
      if (protocol !== CONFIG_STREAM_UPGRADE) {
        a.retry(new Error(`config stream upgraded to "${protocol}", not ${CONFIG_STREAM_UPGRADE}`));
        return;
      }
      a.transport = 'upgrade';
      follow(socket);
      if (head.length > 0) a.onData(head);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        a.retry(
          new ControlPlaneError(res.statusCode ?? 0, 'HTTPError', `config stream answered ${res.statusCode}`),
        );
        return;
      }
      a.transport = 'chunked';
      follow(res);
    });
    req.end();
  }
}

/** What one attempt at following the config stream shares with the transport that carries it. */
interface StreamAttempt {
  query: URLSearchParams;
  identity: WorkloadIdentity;
  /** How the stream travels: set by the transport that carries it. */
  transport: 'sealed' | 'upgrade' | 'chunked';
  /** Run on retry and stop: add what the transport holds open. */
  closers: (() => void)[];
  retry: (error: Error) => void;
  /** Not given up yet (no retry, no stop): what arrives for an attempt that is not live is dropped. */
  live: () => boolean;
  /** (Re)starts the silence watchdog. */
  watchdog: () => void;
  /** Bytes of the NDJSON stream. */
  onData: (chunk: Buffer) => void;
}

interface ParsedTicket {
  ticket: Buffer;
  host: string | null;
  port: number;
}

/** A ConfigTicketResponse, checked: a wrong field is a BadResponse naming it. */
function parseTicket(value: unknown): ParsedTicket {
  const t = (value ?? {}) as Partial<ConfigTicketResponse>;
  const bad = (field: string, what: string) =>
    new ControlPlaneError(502, 'BadResponse', `config ticket response: ${field} ${what}`);
  const ticket = typeof t.ticket === 'string' ? Buffer.from(t.ticket, 'base64url') : Buffer.alloc(0);
  if (ticket.length !== TICKET_BYTES) throw bad('ticket', `is not ${TICKET_BYTES} bytes of base64url`);
  if (!Number.isInteger(t.port) || t.port! < 1 || t.port! > 65535) throw bad('port', 'is not a port number');
  if (t.host !== null && (typeof t.host !== 'string' || t.host === ''))
    throw bad('host', 'is not a host or null');
  return { ticket, host: t.host, port: t.port! };
}
