// Serving certificates supplied as files (cert-manager's Secret mounted as a volume: tls.crt, tls.key).
// Polled, because kubelet swaps the files through a symlink that file watchers miss; a change is loaded
// only when both files parse, so a half-written update never replaces a working certificate.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ServingCertificate } from '../server/https-server.ts';
import { certificateValidity } from './x509.ts';

export interface FileCertificatesOptions {
  directory: string;
  certFile?: string;
  keyFile?: string;
  pollMs?: number;
  logger: Logger;
  onCertificate(cert: ServingCertificate, notAfter: Date): void;
}

export class FileCertificates {
  readonly #o: FileCertificatesOptions;
  #hash = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(o: FileCertificatesOptions) {
    this.#o = o;
  }

  /** Reads the files; calls onCertificate when they changed. Throws when they cannot be used. */
  async load(): Promise<ServingCertificate> {
    const cert = await readFile(join(this.#o.directory, this.#o.certFile ?? 'tls.crt'), 'utf8');
    const key = await readFile(join(this.#o.directory, this.#o.keyFile ?? 'tls.key'), 'utf8');
    const { notAfter } = certificateValidity(cert);
    if (!key.includes('PRIVATE KEY')) throw new Error('key file holds no PEM private key');
    const hash = createHash('sha256').update(cert).update(key).digest('hex');
    if (hash !== this.#hash) {
      this.#hash = hash;
      this.#o.logger.info({ notAfter: notAfter.toISOString() }, 'serving certificate loaded from files');
      this.#o.onCertificate({ cert, key }, notAfter);
    }
    return { cert, key };
  }

  async start(): Promise<ServingCertificate> {
    const first = await this.load();
    this.#timer = setInterval(() => {
      this.load().catch((e: unknown) =>
        this.#o.logger.warn(
          { err: (e as Error).message },
          'certificate files not usable; keeping the current certificate',
        ),
      );
    }, this.#o.pollMs ?? 30_000);
    this.#timer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
