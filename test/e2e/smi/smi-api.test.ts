// The SMI API against the real apiserver: every CRD version served through the conversion webhook, the
// validating webhook's denials and warnings as kubectl shows them, and the write patterns of kubectl
// (client-side and server-side apply), Flagger (full-object PUT) and Argo Rollouts (JSON merge patch).

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { convertSmiObject } from '../../../crds/smi/conversion/index.ts';
import {
  allCustomResourceDefinitions,
  DEFAULT_CONVERSION_CLIENT_CONFIG,
} from '../../../crds/smi/crd-manifests.ts';
import { SMI_KIND_INFO, SMI_KINDS, type SmiKind, smiKindInfo } from '../../../crds/smi/kinds.ts';
import { mergeConditions } from '../../../operator/src/compiler/status.ts';
import { deleteNamespace, kubectl, waitFor } from '../kube.ts';
import { freePort, startWebhookProcess, type WebhookProcess } from './webhook-process.ts';

type Json = Record<string, unknown>;

const run = randomBytes(3).toString('hex');
const LABEL = 'weft.dev/e2e-smi';
const ns = { client: `smi-client-${run}`, server: `smi-server-${run}` };
const validatorName = `weft-e2e-smi-validator-${run}`;
const caBundleFile = join(tmpdir(), `weft-e2e-smi-ca-${run}.pem`);
const CONVERTED_CRDS = SMI_KINDS.filter((k) => SMI_KIND_INFO[k].versions.length > 1).map(
  (k) => `${SMI_KIND_INFO[k].plural}.${SMI_KIND_INFO[k].group}`,
);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

let webhook: WebhookProcess | undefined;

const samplesDir = new URL('../../../samples/smi/', import.meta.url);
const samples = readdirSync(samplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((file) => ({ file, object: parse(readFileSync(new URL(file, samplesDir), 'utf8')) as Json }));

function kindOf(o: Json): { kind: SmiKind; version: string; group: string } {
  const [group, version] = String(o.apiVersion).split('/') as [string, string];
  const info = smiKindInfo(group, String(o.kind))!;
  return { kind: info.kind, version, group };
}

const resource = (o: Json, version: string) => {
  const { kind, group } = kindOf(o);
  return `${SMI_KIND_INFO[kind].plural}.${version}.${group}`;
};
const nameOf = (o: Json) => String((o.metadata as Json).name);

/** What a user wrote: everything but server-owned metadata and status. */
function userView(o: Json): Json {
  const { metadata, status: _status, ...rest } = o;
  const annotations = { ...(((metadata as Json).annotations as Record<string, string>) ?? {}) };
  delete annotations[LAST_APPLIED];
  return { ...rest, annotations };
}

async function getIn(namespace: string, o: Json, version: string): Promise<Json> {
  const { stdout } = await kubectl([
    '-n',
    namespace,
    'get',
    `${resource(o, version)}/${nameOf(o)}`,
    '-o',
    'json',
  ]);
  return JSON.parse(stdout) as Json;
}

function expectedIn(o: Json, namespace: string, version: string): Json {
  const { group } = kindOf(o);
  const r = convertSmiObject(
    { ...o, metadata: { ...(o.metadata as Json), namespace } },
    `${group}/${version}`,
  );
  if (!r.ok) throw new Error(r.message);
  return r.object;
}

async function crdCaBundle(name: string): Promise<string | undefined> {
  const { stdout } = await kubectl([
    'get',
    'crd',
    name,
    '-o',
    'jsonpath={.spec.conversion.webhook.clientConfig.caBundle}',
  ]);
  return stdout === '' ? undefined : stdout;
}

beforeAll(async () => {
  for (const n of Object.values(ns)) {
    await kubectl(['create', 'namespace', n]);
    await kubectl(['label', 'namespace', n, `${LABEL}=${run}`]);
  }
  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  // CRDs: pointed at this process first (a merge patch clears whatever client config another installer
  // left), then applied idempotently with the same config. They stay installed afterwards (see afterAll).
  const clientConfig = { url: `${base}/convert` };
  for (const name of CONVERTED_CRDS) {
    // Strategy too: an uninstall that keeps the CRDs (KEEP_CRDS=1) switches conversion off.
    const patch = {
      spec: {
        conversion: {
          strategy: 'Webhook',
          webhook: {
            conversionReviewVersions: ['v1'],
            clientConfig: { service: null, caBundle: null, ...clientConfig },
          },
        },
      },
    };
    await kubectl(['patch', 'crd', name, '--type', 'merge', '-p', JSON.stringify(patch)]).catch(
      (e: Error) => {
        if (!/NotFound|not found/.test(e.message)) throw e;
      },
    );
  }
  const crds = { apiVersion: 'v1', kind: 'List', items: allCustomResourceDefinitions(clientConfig) };
  await kubectl(
    ['apply', '--server-side', '--force-conflicts', '--field-manager=weft-e2e-smi', '-f', '-'],
    JSON.stringify(crds),
  );
  const validator = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: validatorName },
    webhooks: [
      {
        name: 'validate.smi.weft.dev',
        clientConfig: { url: `${base}/validate` },
        rules: [
          {
            apiGroups: ['split.smi-spec.io', 'access.smi-spec.io', 'specs.smi-spec.io'],
            apiVersions: ['*'],
            resources: ['*'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: { matchLabels: { [LABEL]: run } },
        failurePolicy: 'Fail',
        matchPolicy: 'Exact',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 10,
      },
    ],
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(validator));
  // The process generates its CA (in a Secret of the test namespace) and publishes the caBundle itself.
  webhook = await startWebhookProcess(port, {
    WEFT_WEBHOOK_DNS_NAMES: 'localhost',
    WEFT_WEBHOOK_IP_SANS: '127.0.0.1',
    WEFT_WEBHOOK_CA_SECRET: `${ns.client}/weft-webhooks-ca`,
    WEFT_WEBHOOK_CA_BUNDLE_CRDS: CONVERTED_CRDS.join(','),
    WEFT_WEBHOOK_CA_BUNDLE_VALIDATING: validatorName,
    WEFT_WEBHOOK_CA_BUNDLE_MUTATING: '',
    WEFT_WEBHOOK_CA_BUNDLE_FILE: caBundleFile,
    WEFT_WEBHOOK_REFERENCE_LOOKUP: 'true',
  });
  const bundle = Buffer.from(readFileSync(caBundleFile, 'utf8')).toString('base64');
  for (const name of CONVERTED_CRDS) expect(await crdCaBundle(name)).toBe(bundle);
  // The apiserver picks up CRD changes asynchronously: wait until a conversion works.
  // The apiserver picks up CRD changes asynchronously: wait until every kind converts (a server-side dry
  // run of an older version converts to the storage version and passes the validating webhook).
  for (const file of [
    'trafficsplit-v1alpha1.yaml',
    'traffictarget-v1alpha1.yaml',
    'httproutegroup-v1alpha1.yaml',
    'tcproute-v1alpha1.yaml',
  ]) {
    const o = samples.find((s) => s.file === file)!.object;
    await waitFor(`conversion webhook reachable for ${file}`, 60_000, async () => {
      await kubectl(['-n', ns.client, 'create', '--dry-run=server', '-f', '-'], JSON.stringify(o));
      return true;
    });
  }
}, 180_000);

afterAll(async () => {
  await kubectl(['delete', 'validatingwebhookconfiguration', validatorName, '--ignore-not-found']).catch(
    () => undefined,
  );
  await webhook?.stop();
  // The CRDs stay (others use them), pointed back at the in-cluster webhook Service as in the committed
  // manifests rather than at this process's dead port; the storage versions work either way.
  for (const name of CONVERTED_CRDS) {
    const clientConfig = { url: null, caBundle: null, ...DEFAULT_CONVERSION_CLIENT_CONFIG };
    const patch = { spec: { conversion: { webhook: { clientConfig } } } };
    await kubectl(['patch', 'crd', name, '--type', 'merge', '-p', JSON.stringify(patch)]).catch(
      () => undefined,
    );
  }
  for (const n of Object.values(ns)) await deleteNamespace(n).catch(() => undefined);
}, 60_000);

describe.each([
  ['client-side apply', 'client'],
  ['server-side apply', 'server'],
] as const)('%s', (_title, mode) => {
  const namespace = () => ns[mode];
  test.each(samples.map((s) => [s.file, s.object] as const))(
    '%s applies, reads back identically in every served version, and round-trips through each',
    async (_file, sample) => {
      const args = mode === 'server' ? ['apply', '--server-side', '--field-manager=weft-e2e-smi'] : ['apply'];
      await kubectl(['-n', namespace(), ...args, '-f', '-'], JSON.stringify(sample));
      const { kind, version } = kindOf(sample);
      const original = userView(await getIn(namespace(), sample, version));
      expect(original).toEqual(userView({ ...sample, metadata: {} }));
      for (const other of SMI_KIND_INFO[kind].versions) {
        const there = await getIn(namespace(), sample, other);
        expect(userView(there)).toEqual(userView(expectedIn(sample, namespace(), other)));
        if (other === version) continue;
        // Write it back in the other version (a full PUT), then read it in the original one.
        await kubectl(['-n', namespace(), 'replace', '-f', '-'], JSON.stringify(there));
        expect(userView(await getIn(namespace(), sample, version))).toEqual(original);
      }
    },
    60_000,
  );
});

describe('client write patterns', () => {
  const byFile = (f: string) => samples.find((s) => s.file === f)!.object;
  const weights = (o: Json) => ((o.spec as Json).backends as Json[]).map((b) => b.weight);

  test.each(['flagger-trafficsplit-v1alpha1.yaml', 'flagger-trafficsplit-v1alpha3.yaml'])(
    'Flagger-style full-object PUT (%s) is visible in v1alpha4 with the new weights',
    async (file) => {
      const sample = byFile(file);
      const { version } = kindOf(sample);
      const current = await getIn(ns.client, sample, version);
      const backends = ((current.spec as Json).backends as Json[]).map((b, i) => ({
        ...b,
        weight: i === 0 ? 40 : 60,
      }));
      await kubectl(
        ['-n', ns.client, 'replace', '-f', '-'],
        JSON.stringify({ ...current, spec: { ...(current.spec as Json), backends } }),
      );
      expect(weights(await getIn(ns.client, sample, 'v1alpha4'))).toEqual([40, 60]);
    },
    30_000,
  );

  test('Argo-Rollouts-style JSON merge patch on v1alpha1 with Quantity weights keeps the ratio in v1alpha4', async () => {
    const sample = byFile('argo-rollouts-trafficsplit-v1alpha1.yaml');
    const patch = {
      spec: {
        backends: [
          { service: 'rollouts-demo', weight: '750m' },
          { service: 'rollouts-demo-canary', weight: '250m' },
        ],
      },
    };
    await kubectl([
      '-n',
      ns.client,
      'patch',
      `${resource(sample, 'v1alpha1')}/${nameOf(sample)}`,
      '--type',
      'merge',
      '-p',
      JSON.stringify(patch),
    ]);
    expect(weights(await getIn(ns.client, sample, 'v1alpha4'))).toEqual([750, 250]);
    expect(weights(await getIn(ns.client, sample, 'v1alpha1'))).toEqual(['750m', '250m']);
  }, 30_000);
});

describe('replicas', () => {
  test('a second replica signs with the same CA from the Secret (no leader) and serves conversions', async () => {
    const port = await freePort();
    const file = join(tmpdir(), `weft-e2e-smi-ca2-${run}.pem`);
    const second = await startWebhookProcess(port, {
      WEFT_WEBHOOK_DNS_NAMES: 'localhost',
      WEFT_WEBHOOK_IP_SANS: '127.0.0.1',
      WEFT_WEBHOOK_CA_SECRET: `${ns.client}/weft-webhooks-ca`,
      WEFT_WEBHOOK_CA_BUNDLE_CRDS: CONVERTED_CRDS.join(','),
      WEFT_WEBHOOK_CA_BUNDLE_VALIDATING: validatorName,
      WEFT_WEBHOOK_CA_BUNDLE_MUTATING: '',
      WEFT_WEBHOOK_CA_BUNDLE_FILE: file,
      WEFT_WEBHOOK_REFERENCE_LOOKUP: 'false',
    });
    try {
      const ca = readFileSync(file, 'utf8');
      expect(ca).toBe(readFileSync(caBundleFile, 'utf8'));
      expect(second.output()).not.toContain('caBundle written'); // nothing to change: same CA
      const review = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'ConversionReview',
        request: {
          uid: 'r2',
          desiredAPIVersion: 'split.smi-spec.io/v1alpha4',
          objects: [samples.find((x) => x.file === 'trafficsplit-v1alpha1.yaml')!.object],
        },
      };
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/convert',
            method: 'POST',
            ca,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => {
              text += c.toString('utf8');
            });
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(review));
      });
      const out = JSON.parse(body) as { response: { result: { status: string } } };
      expect(out.response.result.status).toBe('Success');
    } finally {
      await second.stop();
    }
  }, 60_000);
});

describe('kubectl views and the status subresource', () => {
  test('`kubectl get smi` lists every kind; TrafficSplit prints service, backends with weights, and Ready', async () => {
    const { stdout } = await kubectl(['-n', ns.client, 'get', 'smi', '-o', 'name']);
    for (const plural of ['trafficsplit', 'traffictarget', 'httproutegroup', 'tcproute', 'udproute']) {
      expect(stdout).toContain(`${plural}.`);
    }
    const table = await kubectl(['-n', ns.client, 'get', 'ts', 'split-v1alpha2']);
    expect(table.stdout).toMatch(/NAME\s+SERVICE\s+BACKENDS\s+READY\s+AGE/);
    expect(table.stdout).toContain('[{"service":"web-v1","weight":75},{"service":"web-v2","weight":25}]');
  }, 30_000);

  test('an operator status (conditions with observedGeneration) is written through the subresource and read in every version', async () => {
    const sample = samples.find((s) => s.file === 'trafficsplit-v1alpha1.yaml')!.object;
    const stored = await getIn(ns.client, sample, 'v1alpha4');
    const generation = Number((stored.metadata as Json).generation);
    const conditions = mergeConditions(
      undefined,
      [
        {
          type: 'Accepted',
          status: 'True',
          observedGeneration: generation,
          reason: 'Accepted',
          message: 'TrafficSplit is valid and in effect',
        },
        {
          type: 'ResolvedRefs',
          status: 'False',
          observedGeneration: generation,
          reason: 'BackendNotFound',
          message: 'Service web-v2 does not exist',
        },
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: generation,
          reason: 'Programmed',
          message: 'programmed into the proxies without the unresolved references',
        },
      ],
      new Date(),
    );
    const status = { observedGeneration: generation, conditions };
    await kubectl([
      '-n',
      ns.client,
      'patch',
      `${resource(sample, 'v1alpha4')}/${nameOf(sample)}`,
      '--subresource=status',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    for (const v of ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4']) {
      const o = await getIn(ns.client, sample, v);
      expect(o.status).toEqual(status);
      expect((o.metadata as Json).generation).toBe(generation); // status writes do not bump the generation
    }
    const { stdout } = await kubectl([
      '-n',
      ns.client,
      'get',
      'ts',
      nameOf(sample),
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(stdout).toBe('True');
  }, 30_000);
});

const meta = (name: string) => ({ name });
const split = (name: string, version: string, spec: Json) => ({
  apiVersion: `split.smi-spec.io/${version}`,
  kind: 'TrafficSplit',
  metadata: meta(name),
  spec,
});
const sa = (name: string, namespace?: string) => ({
  kind: 'ServiceAccount',
  name,
  ...(namespace ? { namespace } : {}),
});
const target = (name: string, spec: Json) => ({
  apiVersion: 'access.smi-spec.io/v1alpha3',
  kind: 'TrafficTarget',
  metadata: meta(name),
  spec,
});
const routes = (name: string, matches: Json[]) => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: meta(name),
  spec: { matches },
});

describe('invalid input is denied, naming the object and the field', () => {
  test.each([
    [
      'negative weight',
      split('bad-negative', 'v1alpha2', { service: 'web', backends: [{ service: 'a', weight: -1 }] }),
      'spec.backends[0].weight',
    ],
    ['no backends', split('bad-empty', 'v1alpha4', { service: 'web', backends: [] }), 'spec.backends'],
    [
      'root as its only backend',
      split('bad-self', 'v1alpha1', { service: 'web', backends: [{ service: 'web', weight: 1 }] }),
      'spec.backends[0].service',
    ],
    [
      'duplicate backends',
      split('bad-dup', 'v1alpha3', {
        service: 'web',
        backends: [
          { service: 'a', weight: 1 },
          { service: 'a', weight: 2 },
        ],
      }),
      'spec.backends[1].service',
    ],
    [
      'regex not linear-time',
      routes('bad-regex', [{ name: 'x', pathRegex: '/(a+)\\1' }]),
      'spec.matches[0].pathRegex',
    ],
    [
      'regex that does not compile',
      routes('bad-regex2', [{ name: 'x', headers: { 'x-user': '(' } }]),
      'spec.matches[0].headers.x-user',
    ],
    [
      'unknown HTTP method',
      routes('bad-method', [{ name: 'x', methods: ['FETCH'] }]),
      'spec.matches[0].methods[0]',
    ],
    [
      'no sources',
      target('bad-nosources', { destination: sa('web'), rules: [{ kind: 'TCPRoute', name: 't' }] }),
      'spec.sources',
    ],
    ['no rules', target('bad-norules', { destination: sa('web'), sources: [sa('c')] }), 'spec.rules'],
    [
      'rule kind',
      target('bad-kind', {
        destination: sa('web'),
        sources: [sa('c')],
        rules: [{ kind: 'Service', name: 't' }],
      }),
      'spec.rules[0].kind',
    ],
    [
      'destination in another namespace',
      target('bad-dest', {
        destination: sa('web', 'elsewhere'),
        sources: [sa('c')],
        rules: [{ kind: 'TCPRoute', name: 't' }],
      }),
      'spec.destination.namespace',
    ],
    [
      'port out of range',
      {
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'TCPRoute',
        metadata: meta('bad-port'),
        spec: { matches: { ports: [70000] } },
      },
      'spec.matches.ports[0]',
    ],
  ])(
    '%s',
    async (_title, object, field) => {
      const err = await kubectl(['-n', ns.client, 'apply', '-f', '-'], JSON.stringify(object)).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(err).toBeDefined();
      expect(err).toContain(object.metadata.name);
      expect(err).toContain(field);
      expect(err).toContain(object.kind);
    },
    30_000,
  );
});

describe('suspicious input is admitted with a warning kubectl prints', () => {
  test('all weights zero', async () => {
    const { stderr } = await kubectl(
      ['-n', ns.client, 'apply', '-f', '-'],
      JSON.stringify(
        split('zero', 'v1alpha4', {
          service: 'web',
          backends: [
            { service: 'a', weight: 0 },
            { service: 'b', weight: 0 },
          ],
        }),
      ),
    );
    expect(stderr).toContain(`Warning: TrafficSplit ${ns.client}/zero: spec.backends: every weight is 0`);
  }, 30_000);

  test('a backend Service that does not exist, a root service already split, a match name the route group lacks', async () => {
    await kubectl(['-n', ns.client, 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
    await kubectl(['-n', ns.client, 'create', 'service', 'clusterip', 'web-v1', '--tcp=80:8080']);
    const s = await kubectl(
      ['-n', ns.client, 'apply', '-f', '-'],
      JSON.stringify(
        split('missing', 'v1alpha2', {
          service: 'web',
          backends: [
            { service: 'web-v1', weight: 1 },
            { service: 'web-v9', weight: 1 },
          ],
        }),
      ),
    );
    expect(s.stderr).toContain(
      `Warning: TrafficSplit ${ns.client}/missing: spec.backends[1].service: Service ${ns.client}/web-v9 does not exist`,
    );
    // The samples applied earlier split the same root service.
    expect(s.stderr).toContain(
      `Warning: TrafficSplit ${ns.client}/missing: spec.service: root service ${ns.client}/web is also split by TrafficSplit`,
    );
    expect(s.stderr).not.toContain('spec.backends[0].service');
    await kubectl(
      ['-n', ns.client, 'apply', '-f', '-'],
      JSON.stringify(routes('known-routes', [{ name: 'api', pathRegex: '/api' }])),
    );
    const t = await kubectl(
      ['-n', ns.client, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'access.smi-spec.io/v1alpha1',
        kind: 'TrafficTarget',
        metadata: meta('match-missing'),
        destination: sa('default'),
        sources: [sa('default')],
        specs: [{ kind: 'HTTPRouteGroup', name: 'known-routes', matches: ['api', 'admin'] }],
      }),
    );
    expect(t.stderr).toContain(
      `Warning: TrafficTarget ${ns.client}/match-missing: specs[0].matches[1]: HTTPRouteGroup ${ns.client}/known-routes has no match named "admin"`,
    );
    expect(t.stderr).not.toContain('specs[0].matches[0]');
  }, 30_000);
});
