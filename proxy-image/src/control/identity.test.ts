import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createCsr, generateWorkloadKey, renewalDelayMs } from './identity.ts';
import { NdjsonDecoder, NdjsonError } from './ndjson.ts';

describe('workload identity', () => {
  it('makes a P-256 key and a CSR that openssl verifies, carrying the SPIFFE ID', async () => {
    const key = await generateWorkloadKey();
    const privateKey = createPrivateKey(key.privateKeyPem);
    expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const csr = await createCsr(key, 'spiffe://cluster.local/ns/shop/sa/web');
    const text = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], {
      input: csr,
      stdio: 'pipe',
    }).toString();
    expect(text).toContain('URI:spiffe://cluster.local/ns/shop/sa/web');
    const csrKey = execFileSync('openssl', ['req', '-pubkey', '-noout'], { input: csr }).toString();
    expect(createPublicKey(csrKey).export({ format: 'jwk' })).toEqual(
      createPublicKey(privateKey).export({ format: 'jwk' }),
    );
  });

  it('renews between 60% and 70% of the lifetime, never in the past', () => {
    const facts = { notBefore: 0, notAfter: 100_000, spiffeIds: [] };
    expect(renewalDelayMs(facts, 0, () => 0)).toBe(70_000);
    expect(renewalDelayMs(facts, 0, () => 0.999_999)).toBeCloseTo(60_000, -1);
    expect(renewalDelayMs(facts, 90_000, () => 0)).toBe(0);
  });
});

describe('NDJSON decoder', () => {
  it('yields the same values however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (values, cuts) => {
          const text = Buffer.from(values.map((v) => `${JSON.stringify(v)}\n`).join(''));
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const decoder = new NdjsonDecoder(1 << 20);
          const out: unknown[] = [];
          let from = 0;
          for (const p of [...points, text.length]) {
            out.push(...decoder.push(text.subarray(from, p)));
            from = p;
          }
          expect(out).toEqual(values.map((v) => JSON.parse(JSON.stringify(v))));
        },
      ),
    );
  });

  it('refuses a line over the limit, even arriving in small pieces, and invalid JSON', () => {
    const decoder = new NdjsonDecoder(16);
    expect(() => {
      for (let i = 0; i < 5; i++) decoder.push(Buffer.from('"abcd'));
    }).toThrow(NdjsonError);
    expect(() => new NdjsonDecoder(100).push(Buffer.from('{nope}\n'))).toThrow('invalid JSON line');
  });
});

describe('agent settings', () => {
  it('names the missing or malformed variable', async () => {
    const { agentSettingsFromEnv } = await import('./agent.ts');
    const env = {
      WEFT_POD_NAMESPACE: 'shop',
      WEFT_POD_NAME: 'web-1',
      WEFT_SERVICE_ACCOUNT: 'web',
      WEFT_TRUST_DOMAIN: 'cluster.local',
      WEFT_CONTROL_PLANE: 'weft-operator.weft-system.svc:15012',
      WEFT_CONTROL_PLANE_IDENTITY: 'spiffe://cluster.local/ns/weft-system/sa/weft-operator',
      WEFT_TRUST_ANCHORS: '-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n',
      WEFT_TOKEN_PATH: '/var/run/secrets/weft.dev/token/token',
      WEFT_IDENTITY_DIR: '/var/run/secrets/weft.dev/identity',
    };
    expect(agentSettingsFromEnv(env).pod).toEqual({ namespace: 'shop', name: 'web-1' });
    expect(() => agentSettingsFromEnv({ ...env, WEFT_POD_NAME: '' })).toThrow('WEFT_POD_NAME is required');
    expect(() => agentSettingsFromEnv({ ...env, WEFT_TRUST_ANCHORS: 'nope' })).toThrow(
      'WEFT_TRUST_ANCHORS must hold PEM',
    );
  });
});
