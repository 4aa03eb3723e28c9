import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { INJECT, INJECTED_VERSION, MESHED_LABEL } from '../../../crds/annotations.ts';
import {
  AWAIT_READY_COMMAND,
  INIT_CONTAINER,
  InjectReason,
  type InjectResult,
  inject,
  injectionDecision,
  type Namespace,
  type Pod,
  PROXY_CONTAINER,
  workloadOf,
} from './inject.ts';
import { applyPatch } from './json-patch.ts';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from './mesh-config.ts';

const mesh = DEFAULT_MESH_CONFIG;
const enabledNs: Namespace = { metadata: { name: 'shop', annotations: { [INJECT]: 'enabled' } } };
const plainNs: Namespace = { metadata: { name: 'shop' } };

function pod(extra: { annotations?: Record<string, string>; spec?: Partial<Pod['spec']> } = {}): Pod {
  return {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }], ...extra.spec },
  };
}

function injected(p: Pod, ns: Namespace | undefined = enabledNs, config: MeshConfig = mesh) {
  const result = inject(p, ns, config);
  expect(result.injected).toBe(true);
  return { result, pod: applyPatch(p, result.patch) };
}

type AnyContainer = Record<string, unknown> & { name: string };
const initNames = (p: Pod) => (p.spec?.initContainers ?? []).map((c) => c.name);
const containerNames = (p: Pod) => (p.spec?.containers ?? []).map((c) => c.name);
const find = (p: Pod, name: string) =>
  [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === name) as
    | AnyContainer
    | undefined;

describe('injection decision', () => {
  const cases: [string, Pod, Namespace | undefined, InjectReason][] = [
    ['namespace enabled', pod(), enabledNs, InjectReason.Injected],
    [
      'pod enabled, namespace silent',
      pod({ annotations: { [INJECT]: 'enabled' } }),
      plainNs,
      InjectReason.Injected,
    ],
    [
      'pod disabled overrides namespace',
      pod({ annotations: { [INJECT]: 'disabled' } }),
      enabledNs,
      InjectReason.Disabled,
    ],
    [
      'namespace disabled',
      pod(),
      { metadata: { name: 'shop', annotations: { [INJECT]: 'disabled' } } },
      InjectReason.Disabled,
    ],
    ['no annotation anywhere', pod(), plainNs, InjectReason.NotEnabled],
    ['misspelt value', pod({ annotations: { [INJECT]: 'true' } }), plainNs, InjectReason.NotEnabled],
    ['host network', pod({ spec: { hostNetwork: true } }), enabledNs, InjectReason.HostNetwork],
    [
      'already injected',
      pod({ spec: { containers: [{ name: 'app' }, { name: PROXY_CONTAINER }] } }),
      enabledNs,
      InjectReason.AlreadyInjected,
    ],
    [
      'mesh namespace',
      { ...pod(), metadata: { name: 'op', namespace: mesh.meshNamespace } },
      { metadata: { name: mesh.meshNamespace, annotations: { [INJECT]: 'enabled' } } },
      InjectReason.MeshPod,
    ],
  ];
  it.each(cases)('%s -> %s', (_name, p, ns, reason) => {
    expect(injectionDecision(p, ns, mesh).reason).toBe(reason);
    const result = inject(p, ns, mesh);
    expect(result.reason).toBe(reason);
    expect(result.injected).toBe(reason === InjectReason.Injected);
    if (!result.injected) expect(result.patch).toEqual([]);
  });

  it('explains a misspelt value', () => {
    expect(injectionDecision(pod({ annotations: { [INJECT]: 'true' } }), plainNs, mesh).message).toContain(
      '"true" (expected enabled or disabled)',
    );
  });
});

describe('injected pod', () => {
  it('runs iptables first, then the proxy as a native sidecar, then the app init containers', () => {
    const { pod: out } = injected(pod({ spec: { initContainers: [{ name: 'migrate', image: 'm:1' }] } }));
    expect(initNames(out)).toEqual([INIT_CONTAINER, PROXY_CONTAINER, 'migrate']);
    expect(containerNames(out)).toEqual(['app']);
    expect(find(out, PROXY_CONTAINER)?.restartPolicy).toBe('Always');
  });

  it('falls back to a classic sidecar, first among containers, when native sidecars are off', () => {
    const { pod: out } = injected(pod(), enabledNs, { ...mesh, nativeSidecar: false });
    expect(initNames(out)).toEqual([INIT_CONTAINER]);
    expect(containerNames(out)).toEqual([PROXY_CONTAINER, 'app']);
    expect(find(out, PROXY_CONTAINER)?.restartPolicy).toBeUndefined();
    // The app starts only once the proxy is ready: kubelet waits for the proxy's postStart hook.
    expect(find(out, PROXY_CONTAINER)?.lifecycle).toEqual({
      postStart: { exec: { command: AWAIT_READY_COMMAND } },
    });
    // SIGTERM reaches it with the app's: its listeners stay open through the drain (native sidecars: not set).
    const env = (c: Record<string, unknown> | undefined) =>
      (c?.env ?? []) as { name: string; value?: string }[];
    expect(env(find(out, PROXY_CONTAINER)).find((e) => e.name === 'WEFT_DRAIN_KEEP_LISTENING')?.value).toBe(
      'true',
    );
    const native = injected(pod(), enabledNs, mesh).pod;
    expect(env(find(native, PROXY_CONTAINER)).some((e) => e.name === 'WEFT_DRAIN_KEEP_LISTENING')).toBe(
      false,
    );
  });

  it('locks the proxy down and gives proxy-init only NET_ADMIN and NET_RAW', () => {
    const { pod: out } = injected(pod());
    expect(find(out, PROXY_CONTAINER)?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: mesh.proxyUid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(find(out, INIT_CONTAINER)?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    });
  });

  it('mounts an audience-bound projected token and an in-memory identity volume', () => {
    const { pod: out } = injected(pod({ spec: { volumes: [{ name: 'data', emptyDir: {} }] } }));
    const volumes = out.spec?.volumes ?? [];
    expect(volumes.map((v) => v.name)).toEqual(['data', 'weft-identity-token', 'weft-identity']);
    expect(JSON.stringify(volumes[1])).toContain(`"audience":"${mesh.identityAudience}"`);
    expect(volumes[2]).toMatchObject({ emptyDir: { medium: 'Memory' } });
  });

  it('probes the admin port and reads identity from the downward API', () => {
    const proxy = find(injected(pod()).pod, PROXY_CONTAINER) as AnyContainer;
    expect(proxy.startupProbe).toMatchObject({ httpGet: { path: '/ready', port: mesh.ports.admin } });
    expect(proxy.livenessProbe).toMatchObject({ httpGet: { path: '/live', port: mesh.ports.admin } });
    const env = proxy.env as { name: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    expect(env.find((e) => e.name === 'WEFT_POD_UID')?.valueFrom?.fieldRef.fieldPath).toBe('metadata.uid');
  });

  it('marks the pod, escaping the annotation key in the patch path', () => {
    const { result, pod: out } = injected(pod({ annotations: { other: 'x' } }));
    expect(result.patch.some((op) => op.path === '/metadata/annotations/weft.dev~1proxy-version')).toBe(true);
    expect(out.metadata?.annotations).toEqual({ other: 'x', [INJECTED_VERSION]: mesh.proxyVersion });
    expect(out.metadata?.labels?.[MESHED_LABEL]).toBe('true');
  });

  it('is safe to invoke again: the injected pod is left alone', () => {
    const { pod: out } = injected(pod());
    expect(inject(out, enabledNs, mesh).reason).toBe(InjectReason.AlreadyInjected);
  });
});

describe('overrides', () => {
  it('applies pod annotations over namespace annotations', () => {
    const ns: Namespace = {
      metadata: {
        name: 'shop',
        annotations: {
          [INJECT]: 'enabled',
          'config.weft.dev/policy-mode': 'enforcing',
          'config.weft.dev/proxy-log-level': 'debug',
        },
      },
    };
    const p = pod({
      annotations: {
        'config.weft.dev/proxy-log-level': 'warn',
        'config.weft.dev/skip-outbound-ports': '3306, 9000-9010',
        'config.weft.dev/skip-outbound-subnets': '169.254.169.254,fd00::/8',
        'config.weft.dev/opaque-ports': '7000-7002',
        'config.weft.dev/proxy-memory-limit': '512Mi',
      },
    });
    const { pod: out } = injected(p, ns);
    const proxy = find(out, PROXY_CONTAINER) as AnyContainer;
    const env = Object.fromEntries(
      (proxy.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
    );
    expect(env.WEFT_LOG_LEVEL).toBe('warn');
    expect(env.WEFT_POLICY_MODE).toBe('enforcing');
    expect(env.WEFT_OPAQUE_PORTS).toBe('7000,7001,7002');
    expect(proxy.resources).toMatchObject({ limits: { memory: '512Mi' } });
    const args = find(out, INIT_CONTAINER)?.args as string[];
    expect(args).toContain('--skip-outbound-ports=3306,9000-9010');
    expect(args).toContain('--skip-outbound-subnets=169.254.169.254/32,fd00::/8');
    expect(args).toContain(`--skip-inbound-ports=${mesh.ports.admin}`);
  });

  it('refuses bad values, naming the object and the annotation', () => {
    const result: InjectResult = inject(
      pod({
        annotations: {
          'config.weft.dev/skip-inbound-ports': '80,http',
          'config.weft.dev/proxy-cpu-limit': 'lots',
          'config.weft.dev/polcy-mode': 'enforcing',
        },
      }),
      {
        metadata: {
          name: 'shop',
          annotations: { [INJECT]: 'enabled', 'config.weft.dev/policy-mode': 'strict' },
        },
      },
      mesh,
    );
    expect(result.injected).toBe(false);
    expect(result.reason).toBe(InjectReason.InvalidOverrides);
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          object: 'pod',
          field: 'metadata.annotations["config.weft.dev/skip-inbound-ports"]',
          message: expect.stringContaining('"http"'),
        }),
        expect.objectContaining({
          object: 'pod',
          field: 'metadata.annotations["config.weft.dev/proxy-cpu-limit"]',
        }),
        expect.objectContaining({
          object: 'pod',
          field: 'metadata.annotations["config.weft.dev/polcy-mode"]',
        }),
        expect.objectContaining({
          object: 'namespace',
          field: 'metadata.annotations["config.weft.dev/policy-mode"]',
        }),
      ]),
    );
    expect(result.message).toContain('shop/web-1');
  });
});

describe('any pod', () => {
  const container = fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
    image: fc.constant('x:1'),
  });
  const arbitraryPod = fc.record({
    init: fc.option(fc.uniqueArray(container, { selector: (c) => c.name, maxLength: 3 }), { nil: undefined }),
    containers: fc.uniqueArray(container, { selector: (c) => c.name, minLength: 1, maxLength: 3 }),
    volumes: fc.option(fc.array(fc.record({ name: fc.stringMatching(/^v[0-9]{1,3}$/) }), { maxLength: 3 }), {
      nil: undefined,
    }),
    annotations: fc.option(fc.dictionary(fc.stringMatching(/^[a-z~/.]{1,10}$/), fc.string()), {
      nil: undefined,
    }),
    native: fc.boolean(),
  });

  it('patch applies, keeps every app container and its order, and re-injection is a no-op', () => {
    fc.assert(
      fc.property(arbitraryPod, (a) => {
        const clean = (names: { name: string; image: string }[]) =>
          names.filter((c) => !c.name.startsWith('weft-'));
        const input: Pod = {
          metadata: {
            name: 'p',
            namespace: 'shop',
            ...(a.annotations ? { annotations: a.annotations } : {}),
          },
          spec: {
            containers:
              clean(a.containers).length > 0 ? clean(a.containers) : [{ name: 'app', image: 'x:1' }],
            ...(a.init ? { initContainers: clean(a.init) } : {}),
            ...(a.volumes ? { volumes: a.volumes } : {}),
          },
        };
        for (const key of Object.keys(a.annotations ?? {})) {
          if (key.startsWith('weft.dev/') || key.startsWith('config.weft.dev/')) return;
        }
        const config = { ...mesh, nativeSidecar: a.native };
        const result = inject(input, enabledNs, config);
        expect(result.injected).toBe(true);
        const out = applyPatch(input, result.patch);
        const appInit = initNames(input);
        const appContainers = containerNames(input);
        expect(initNames(out).filter((n) => !n.startsWith('weft-'))).toEqual(appInit);
        expect(containerNames(out).filter((n) => !n.startsWith('weft-'))).toEqual(appContainers);
        for (const [k, v] of Object.entries(input.metadata?.annotations ?? {})) {
          expect(out.metadata?.annotations?.[k]).toBe(v);
        }
        expect(inject(out, enabledNs, config).reason).toBe(InjectReason.AlreadyInjected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('workload labels', () => {
  const owned = (kind: string, name: string, labels: Record<string, string> = {}): Pod => ({
    metadata: {
      generateName: `${name}-`,
      namespace: 'shop',
      labels,
      ownerReferences: [{ apiVersion: 'apps/v1', kind, name, controller: true }],
    },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
  });

  it('names the Deployment behind a ReplicaSet, and other controllers as they are', () => {
    expect(
      workloadOf(owned('ReplicaSet', 'web-v1-67fc7778f5', { 'pod-template-hash': '67fc7778f5' })),
    ).toEqual({
      kind: 'Deployment',
      name: 'web-v1',
    });
    expect(workloadOf(owned('ReplicaSet', 'bare-rs'))).toEqual({ kind: 'ReplicaSet', name: 'bare-rs' });
    expect(workloadOf(owned('StatefulSet', 'db'))).toEqual({ kind: 'StatefulSet', name: 'db' });
    expect(workloadOf(pod())).toBeNull();
  });

  it('are written with the meshed label, for pods with and without labels', () => {
    const withLabels = injected(
      owned('ReplicaSet', 'web-7c9d', { app: 'web', 'pod-template-hash': '7c9d' }),
    ).pod;
    expect(withLabels.metadata?.labels).toEqual({
      app: 'web',
      'pod-template-hash': '7c9d',
      'weft.dev/meshed': 'true',
      'weft.dev/workload-kind': 'Deployment',
      'weft.dev/workload-name': 'web',
    });
    const p = owned('Job', 'once');
    delete p.metadata!.labels;
    expect(injected(p).pod.metadata?.labels).toEqual({
      'weft.dev/meshed': 'true',
      'weft.dev/workload-kind': 'Job',
      'weft.dev/workload-name': 'once',
    });
  });
});
