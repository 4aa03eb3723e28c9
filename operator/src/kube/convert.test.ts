import { describe, expect, test } from '@jest/globals';
import { endpointSliceRecord, podRecord, sameRecord, serviceRecord } from './convert.ts';
import { lastWriteTime } from './record-informer.ts';

describe('convert', () => {
  test('EndpointSlice: unknown readiness is ready; only same-namespace Pod targets name a pod; no service label, no record', () => {
    const r = endpointSliceRecord({
      addressType: 'IPv4',
      metadata: { name: 's1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'checkout' } },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.0.0.1'], targetRef: { kind: 'Pod', name: 'p1' } },
        {
          addresses: ['10.0.0.2'],
          conditions: { ready: false },
          targetRef: { kind: 'Pod', name: 'p2', namespace: 'other' },
        },
      ],
    });
    expect(r?.endpoints).toEqual([
      { addresses: ['10.0.0.1'], ready: true, zone: null, podName: 'p1' },
      { addresses: ['10.0.0.2'], ready: false, zone: null, podName: null },
    ]);
    expect(
      endpointSliceRecord({ addressType: 'IPv4', endpoints: [], metadata: { name: 'x', namespace: 'shop' } }),
    ).toBeNull();
  });

  test('Service: headless has no cluster IPs; ExternalName is marked', () => {
    expect(
      serviceRecord({
        metadata: { name: 'h', namespace: 'n' },
        spec: { clusterIP: 'None', clusterIPs: ['None'] },
      }).clusterIPs,
    ).toEqual([]);
    expect(
      serviceRecord({ metadata: { name: 'e', namespace: 'n' }, spec: { type: 'ExternalName' } }).externalName,
    ).toBe(true);
  });

  test('Pod: meshed by the label or the injector annotation; default ServiceAccount', () => {
    const base = {
      metadata: { name: 'p', namespace: 'n' },
      spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] },
    };
    expect(podRecord(base)).toMatchObject({
      meshed: false,
      serviceAccountName: 'default',
      containerPorts: [{ port: 80, protocol: 'TCP' }],
    });
    expect(
      podRecord({ ...base, metadata: { ...base.metadata, labels: { 'weft.dev/meshed': 'true' } } }).meshed,
    ).toBe(true);
    expect(
      podRecord({ ...base, metadata: { ...base.metadata, annotations: { 'weft.dev/proxy-version': '1' } } })
        .meshed,
    ).toBe(true);
  });

  test('Pod probes: httpGet and tcpSocket with ports resolved by name in their container; exec, gRPC and host probes left out', () => {
    const r = podRecord({
      metadata: { name: 'p', namespace: 'n' },
      spec: {
        initContainers: [
          {
            name: 'sidecar',
            restartPolicy: 'Always',
            ports: [{ name: 'admin', containerPort: 9901 }],
            readinessProbe: { httpGet: { port: 'admin', path: '/ready' } },
          },
        ],
        containers: [
          {
            name: 'app',
            ports: [{ name: 'http', containerPort: 8080 }],
            startupProbe: { httpGet: { port: 'http', path: '/healthz' } },
            readinessProbe: { httpGet: { port: 8080, path: '/healthz' } },
            livenessProbe: { httpGet: { port: '8081', path: '/live', scheme: 'HTTPS' } },
          },
          {
            name: 'db',
            ports: [{ name: 'sql', containerPort: 5432 }],
            readinessProbe: { tcpSocket: { port: 'sql' } },
            livenessProbe: { exec: { command: ['true'] } },
            startupProbe: { grpc: { port: 5433 } },
          },
          {
            name: 'odd',
            readinessProbe: { httpGet: { port: 'http', path: '/x' } },
            livenessProbe: { httpGet: { port: 80, host: '10.0.0.9', path: '/elsewhere' } },
          },
        ],
      },
    });
    expect(r.probes).toEqual([
      { kind: 'http', port: 9901, path: '/ready', scheme: 'HTTP' },
      { kind: 'http', port: 8080, path: '/healthz', scheme: 'HTTP' },
      { kind: 'http', port: 8081, path: '/live', scheme: 'HTTPS' },
      { kind: 'tcp', port: 5432 },
    ]);
  });

  test('Pod: a pod that finished (Succeeded, Failed) is terminated, a new record; Pending to Running changes nothing', () => {
    const at = (phase: string | undefined) =>
      podRecord({
        metadata: { name: 'p', namespace: 'n' },
        spec: { containers: [] },
        ...(phase === undefined ? {} : { status: { phase } }),
      });
    expect(['Pending', 'Running', 'Unknown', undefined].map((p) => at(p).terminated)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(at('Succeeded').terminated).toBe(true);
    expect(at('Failed').terminated).toBe(true);
    // The informer replaces the record, so the compile that follows re-evaluates the TrafficTargets of its
    // ServiceAccount (an unmeshed pod that finished no longer holds them back from Ready).
    expect(sameRecord(at('Running'), at('Succeeded'))).toBe(false);
    expect(sameRecord(at('Pending'), at('Running'))).toBe(true);
  });

  test('Pod: hostNetwork is recorded (such a pod is never meshed)', () => {
    const rec = (hostNetwork: boolean | undefined) =>
      podRecord({
        metadata: { name: 'p', namespace: 'n' },
        spec: { containers: [], ...(hostNetwork === undefined ? {} : { hostNetwork }) },
      });
    expect(rec(true).hostNetwork).toBe(true);
    expect(rec(false).hostNetwork).toBe(false);
    expect(rec(undefined).hostNetwork).toBe(false);
  });

  test('an update that changes nothing the compiler reads yields an equal record', () => {
    const a = podRecord({
      metadata: { name: 'p', namespace: 'n', resourceVersion: '1' },
      spec: { containers: [] },
    });
    const b = podRecord({
      metadata: { name: 'p', namespace: 'n', resourceVersion: '2' },
      spec: { containers: [] },
      status: { phase: 'Running' },
    });
    expect(sameRecord(a, b)).toBe(true);
  });
});

describe('lastWriteTime', () => {
  test('the newest managedFields time, else creationTimestamp, else null; strings or Dates', () => {
    expect(
      lastWriteTime({
        metadata: {
          creationTimestamp: new Date('2026-01-01T00:00:00Z'),
          managedFields: [
            { manager: 'kubectl', time: new Date('2026-01-02T00:00:05Z') },
            { manager: 'kubelet', time: '2026-01-02T00:00:07Z' as unknown as Date },
            { manager: 'other' },
          ],
        },
      }),
    ).toBe(Date.parse('2026-01-02T00:00:07Z'));
    expect(lastWriteTime({ metadata: { creationTimestamp: new Date('2026-01-01T00:00:00Z') } })).toBe(
      Date.parse('2026-01-01T00:00:00Z'),
    );
    expect(lastWriteTime({ metadata: {} })).toBeNull();
  });
});
