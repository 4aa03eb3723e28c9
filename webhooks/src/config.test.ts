import { expect, test } from '@jest/globals';
import { parseWebhookConfig } from './config.ts';

test('defaults: generated certificates in a Secret, published to the SMI CRDs', () => {
  const c = parseWebhookConfig({});
  expect(c.port).toBe(9443);
  expect(c.certificates).toMatchObject({
    mode: 'generated',
    caStore: { kind: 'secret', namespace: 'weft-system', name: 'weft-webhooks-ca' },
  });
  if (c.certificates.mode === 'generated')
    expect(c.certificates.publish.crds).toContain('trafficsplits.split.smi-spec.io');
});

test('errors name the variable', () => {
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_PORT: 'x' })).toThrow(/^WEFT_WEBHOOK_PORT: /);
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_CERT_MODE: 'files' })).toThrow(/^WEFT_WEBHOOK_CERT_DIR: /);
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_CA_SECRET: 'a/b/c' })).toThrow(/^WEFT_WEBHOOK_CA_SECRET: /);
  expect(parseWebhookConfig({}).releaseStartupPages).toBe(true);
  expect(parseWebhookConfig({ WEFT_WEBHOOK_RELEASE_STARTUP_PAGES: 'false' }).releaseStartupPages).toBe(false);
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_RELEASE_STARTUP_PAGES: 'no' })).toThrow(
    /^WEFT_WEBHOOK_RELEASE_STARTUP_PAGES: /,
  );
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_REFERENCE_LOOKUP: 'yes' })).toThrow(
    /^WEFT_WEBHOOK_REFERENCE_LOOKUP: /,
  );
});

test('the messages of the settings parsed as the operator parses its own', () => {
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_PORT: '65536' })).toThrow(
    'WEFT_WEBHOOK_PORT: "65536" is not a port (0..65535)',
  );
  // Unlike the operator's, the port takes no spaces, and an empty one is no port.
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_PORT: ' 80' })).toThrow('is not a port (0..65535)');
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_PORT: '' })).toThrow('WEFT_WEBHOOK_PORT: "" is not');
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_REFERENCE_LOOKUP: 'yes' })).toThrow(
    'WEFT_WEBHOOK_REFERENCE_LOOKUP: "yes" is not true or false',
  );
  // An empty list is no items (the operator's empty list is its default).
  const c = parseWebhookConfig({ WEFT_WEBHOOK_IP_SANS: ' 10.0.0.1, ,10.0.0.2', WEFT_WEBHOOK_DNS_NAMES: '' });
  if (c.certificates.mode !== 'generated') throw new Error('generated certificates expected');
  expect(c.certificates.ipAddresses).toEqual(['10.0.0.1', '10.0.0.2']);
  expect(c.certificates.dnsNames).toEqual([]);
});

test('injection is served only with a mesh config file', () => {
  expect(parseWebhookConfig({}).injection).toBeUndefined();
  expect(parseWebhookConfig({ WEFT_WEBHOOK_MESH_CONFIG: '/m/mesh.json' }).injection).toEqual({
    meshConfigFile: '/m/mesh.json',
    trustAnchorsFile: '/etc/weft/trust/ca.pem',
  });
  expect(() => parseWebhookConfig({ WEFT_WEBHOOK_TRUST_ANCHORS: '/t/ca.pem' })).toThrow(
    /^WEFT_WEBHOOK_TRUST_ANCHORS: needs WEFT_WEBHOOK_MESH_CONFIG/,
  );
});
