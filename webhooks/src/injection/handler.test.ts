import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { INJECT } from '../../../crds/annotations.ts';
import { WebhookError } from '../server/errors.ts';
import { injectHandler } from './handler.ts';
import type { Namespace } from './inject.ts';
import { DEFAULT_MESH_CONFIG } from './mesh-config.ts';
import { FileMeshConfig, parseMeshConfig } from './mesh-config-file.ts';

const namespaces = new Map<string, Namespace>([
  ['shop', { metadata: { name: 'shop', annotations: { [INJECT]: 'enabled' } } }],
]);
const lookup = {
  get: async (name: string) => {
    if (name === 'broken') throw new Error('apiserver unreachable');
    return namespaces.get(name);
  },
};

function request(namespace: string) {
  const body = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      namespace,
      object: { metadata: {}, spec: { containers: [{ name: 'a' }] } },
    },
  };
  return {
    method: 'POST',
    path: '/inject',
    body: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    signal: new AbortController().signal,
  };
}

describe('/inject handler', () => {
  const handler = injectHandler(lookup, () => DEFAULT_MESH_CONFIG);

  it('injects pods of an enabled namespace and labels the outcome', async () => {
    const res = await handler(request('shop'));
    expect(res.outcome).toBe('Injected');
    expect(JSON.parse(String(res.body)).response.patchType).toBe('JSONPatch');
  });

  it('leaves pods of other namespaces alone', async () => {
    expect((await handler(request('elsewhere'))).outcome).toBe('NotEnabled');
  });

  it('fails the request when the namespace cannot be read, so the failurePolicy decides', async () => {
    await expect(handler(request('broken'))).rejects.toThrow(WebhookError);
  });
});

describe('mesh config file', () => {
  it('names the file and the field of a bad value', () => {
    expect(() => parseMeshConfig('{"ports":{"outbound":0,"inbound":1,"admin":2}}', 'mesh.json')).toThrow(
      'mesh.json: /ports/outbound must be >= 1',
    );
    expect(() => parseMeshConfig('{', 'mesh.json')).toThrow('mesh.json: not JSON');
  });

  it('reloads on change, keeps the last good config on a bad update, and reads the trust anchors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-mesh-'));
    const meshPath = join(dir, 'mesh.json');
    const anchorsPath = join(dir, 'anchors.pem');
    writeFileSync(meshPath, JSON.stringify({ proxyImage: 'a:1' }));
    const source = new FileMeshConfig(meshPath, anchorsPath);
    expect(source.current().proxyImage).toBe('a:1');
    expect(source.current().trustAnchorsPem).toBe('');
    writeFileSync(anchorsPath, 'PEM');
    writeFileSync(meshPath, JSON.stringify({ proxyImage: 'b:2', policyMode: 'enforcing' }));
    expect(source.current()).toMatchObject({
      proxyImage: 'b:2',
      policyMode: 'enforcing',
      trustAnchorsPem: 'PEM',
    });
    writeFileSync(meshPath, '{"policyMode":"strict"}');
    expect(source.current().proxyImage).toBe('b:2');
  });
});
