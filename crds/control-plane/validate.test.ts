import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import {
  ERROR_REASONS,
  ERROR_STATUS,
  validateCertificateRequest,
  validateErrorResponse,
  validateStreamMessage,
} from './index.ts';

const example = JSON.parse(
  readFileSync(new URL('../proxy-config/examples/enforcing-split.json', import.meta.url), 'utf8'),
) as unknown;

describe('control-plane contract', () => {
  test('a config message embeds a valid proxy config; ping has nothing else', () => {
    expect(validateStreamMessage({ type: 'config', version: 'sha256:1', config: example }).ok).toBe(true);
    expect(validateStreamMessage({ type: 'ping' }).ok).toBe(true);
    expect(validateStreamMessage({ type: 'ping', extra: 1 }).ok).toBe(false);
    expect(validateStreamMessage({ type: 'config', version: 'v', config: { apiVersion: 'x' } }).ok).toBe(
      false,
    );
  });

  test('certificate request errors name the field', () => {
    const r = validateCertificateRequest({
      csr: '-----BEGIN CERTIFICATE REQUEST-----',
      pod: { namespace: 'a' },
    });
    expect(r).toEqual({ ok: false, errors: [{ path: '/pod/name', message: 'is required' }] });
  });

  test('every error reason has an HTTP status and validates', () => {
    for (const reason of ERROR_REASONS) {
      expect(ERROR_STATUS[reason]).toBeGreaterThanOrEqual(400);
      expect(validateErrorResponse({ reason, message: 'm', field: null }).ok).toBe(true);
    }
  });
});
