import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { INIT_CONTAINER, PROXY_CONTAINER } from '../webhooks/src/injection/inject.ts';
import { DEFAULT_MESH_CONFIG } from '../webhooks/src/injection/mesh-config.ts';
import { injectManifests, ManifestError } from './inject.ts';

const run = promisify(execFile);

const manifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: web:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: job:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: opted-out, annotations: {weft.dev/inject: disabled}}
spec:
  containers: [{name: app, image: x:1}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
`;

type Tree = Record<string, unknown>;
const names = (list: unknown) => ((list as { name: string }[] | undefined) ?? []).map((c) => c.name);

describe('weft inject', () => {
  it('injects pod templates of workloads, respects opt-outs and leaves other kinds alone', () => {
    const { yaml, reports } = injectManifests(manifests, 'app.yaml', DEFAULT_MESH_CONFIG);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Tree);
    expect(docs).toHaveLength(4);
    const deployment = docs[0] as { spec: { template: { spec: Tree; metadata: Tree } } };
    expect(names(deployment.spec.template.spec.initContainers)).toEqual([INIT_CONTAINER, PROXY_CONTAINER]);
    expect(deployment.spec.template.metadata.labels).toEqual({ app: 'web', 'weft.dev/meshed': 'true' });
    const cron = docs[1] as { spec: { jobTemplate: { spec: { template: { spec: Tree } } } } };
    expect(names(cron.spec.jobTemplate.spec.template.spec.initContainers)).toEqual([
      INIT_CONTAINER,
      PROXY_CONTAINER,
    ]);
    expect(names((docs[2] as { spec: Tree }).spec.initContainers)).toEqual([]);
    expect(docs[3]).toEqual(parseAllDocuments(manifests)[3]?.toJS());
    expect(reports.map((r) => `${r.object}: ${r.reason}`)).toEqual([
      'Deployment shop/web: Injected',
      'CronJob nightly: Injected',
      'Pod opted-out: DisabledByAnnotation',
      'Service web: NotAWorkload',
    ]);
  });

  it('is idempotent: injecting its own output changes nothing', () => {
    const once = injectManifests(manifests, 'app.yaml', DEFAULT_MESH_CONFIG).yaml;
    const twice = injectManifests(once, 'app.yaml', DEFAULT_MESH_CONFIG);
    expect(twice.yaml).toBe(once);
    expect(twice.reports[0]?.reason).toBe('AlreadyInjected');
  });

  it('names the file, document and annotation of bad input', () => {
    expect(() => injectManifests('a: [1,\n', 'bad.yaml', DEFAULT_MESH_CONFIG)).toThrow(
      /bad\.yaml: document 1/,
    );
    expect(() => injectManifests('- 1\n- 2\n', 'list.yaml', DEFAULT_MESH_CONFIG)).toThrow(ManifestError);
    const badOverride = manifests.replace(
      'metadata: {labels: {app: web}}',
      'metadata: {labels: {app: web}, annotations: {config.weft.dev/skip-outbound-ports: "x"}}',
    );
    expect(() => injectManifests(badOverride, 'app.yaml', DEFAULT_MESH_CONFIG)).toThrow(
      /Deployment shop\/web: .*config\.weft\.dev\/skip-outbound-ports.*"x"/,
    );
  });

  it('runs as a command: reads stdin, writes YAML, reports to stderr, exits 2 on bad input', async () => {
    const child = run(process.execPath, ['cli/weft.ts', 'inject', '-f', '-']);
    child.child.stdin?.end(manifests);
    const { stdout, stderr } = await child;
    expect(stdout).toContain(`name: ${PROXY_CONTAINER}`);
    expect(stderr).toContain('Deployment shop/web: Injected');
    const missing = await run(process.execPath, ['cli/weft.ts', 'inject', '-f', 'no-such.yaml']).catch(
      (e) => e,
    );
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('no-such.yaml') });
  });
});
