import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { renderBase } from '../scripts/manifests.ts';
import { DEFAULT_INSTALL, meshConfigFor, NAMES, renderInstall } from './render.ts';

describe('install manifests', () => {
  it('are committed exactly as rendered (run `make manifests` after changing deploy/render.ts)', () => {
    for (const [name, text] of Object.entries(renderBase())) {
      expect(existsSync(`deploy/base/${name}`) ? readFileSync(`deploy/base/${name}`, 'utf8') : '').toBe(text);
    }
  });

  it('keep the webhooks away from kube-system, the mesh namespace and the mesh pods', () => {
    const injector = renderInstall().find((m) => m.kind === 'MutatingWebhookConfiguration') as {
      webhooks: { namespaceSelector: unknown; objectSelector: unknown; failurePolicy: string }[];
    };
    const hook = injector.webhooks[0];
    expect(JSON.stringify(hook?.namespaceSelector)).toContain('kube-system');
    expect(JSON.stringify(hook?.namespaceSelector)).toContain(DEFAULT_INSTALL.namespace);
    expect(JSON.stringify(hook?.objectSelector)).toContain('weft.dev/control-plane');
    expect(hook?.failurePolicy).toBe(DEFAULT_INSTALL.injectionFailurePolicy);
  });

  it('give the operator status-only write access to SMI objects', () => {
    const role = renderInstall().find(
      (m) => m.kind === 'ClusterRole' && (m.metadata as { name: string }).name === NAMES.operator,
    ) as {
      rules: { resources: string[]; verbs: string[] }[];
    };
    for (const rule of role.rules) {
      const writes = rule.verbs.some((v) => ['update', 'patch', 'create'].includes(v));
      const smi = rule.resources.some(
        (r) => r.startsWith('traffic') || r.endsWith('routes') || r.startsWith('httproute'),
      );
      if (writes && smi) expect(rule.resources.every((r) => r.endsWith('/status'))).toBe(true);
    }
  });

  it('ship the mesh config the injector reads, pointing proxies at the operator service', () => {
    const docs = parseAllDocuments(readFileSync('deploy/base/weft.yaml', 'utf8')).map((d) => d.toJS());
    const cm = docs.find((d) => d.kind === 'ConfigMap');
    expect(JSON.parse(cm.data['mesh.json'])).toEqual(meshConfigFor(DEFAULT_INSTALL));
    expect(meshConfigFor(DEFAULT_INSTALL).controlPlaneAddress).toBe('weft-operator.weft-system.svc:15012');
  });
});
