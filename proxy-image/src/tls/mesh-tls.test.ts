import { describe, expect, test } from '@jest/globals';
import { spiffeIdFromSan } from './mesh-tls.ts';

describe('spiffeIdFromSan', () => {
  test('finds exactly one SPIFFE URI among SANs', () => {
    expect(spiffeIdFromSan('DNS:a.example, URI:spiffe://td/ns/a/sa/b')).toBe('spiffe://td/ns/a/sa/b');
    expect(spiffeIdFromSan('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/a/sa/c')).toBeNull();
    expect(spiffeIdFromSan('URI:https://example')).toBeNull();
    expect(spiffeIdFromSan(undefined)).toBeNull();
  });
});
