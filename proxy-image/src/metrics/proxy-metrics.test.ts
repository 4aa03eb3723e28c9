import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { createProxyMetrics, ProxyMetrics, type TrafficLabels } from './proxy-metrics.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for these tests), checking HELP/TYPE precede samples. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    const body = m[2] ?? '';
    let lm: RegExpExecArray | null = re.exec(body);
    while (lm !== null) {
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      lm = re.exec(body);
    }
    if (re.lastIndex !== 0 && re.lastIndex !== body.length) throw new Error(`bad labels: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && !types.has(base)) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

const inbound: TrafficLabels = {
  direction: 'inbound',
  authority: 'checkout.shop.svc.cluster.local:8080',
  tls: true,
  peerId: 'spiffe://cluster.local/ns/ingress/sa/gateway',
};
const outbound: TrafficLabels = {
  direction: 'outbound',
  authority: 'payments.billing.svc.cluster.local:9090',
  tls: true,
  peerId: 'spiffe://cluster.local/ns/billing/sa/payments',
  dst: { namespace: 'billing', service: 'payments', pod: 'payments-7d9f-abc' },
};

describe('ProxyMetrics', () => {
  test('HTTP families with Linkerd names and labels', async () => {
    const m = new ProxyMetrics({ version: '0.1.0', workload: { namespace: 'shop', deployment: 'checkout' } });
    for (let i = 0; i < 3; i++) m.request(inbound);
    m.response(inbound, 200, null, 4.2, null, 'complete');
    m.response(inbound, 200, null, 12, null, 'complete');
    m.response(inbound, 503, null, 0.5, 'no ready endpoints', 'complete');
    m.request(outbound);
    m.response(outbound, 200, 14, 70, null, 'complete');
    m.response(outbound, 200, 0, 3, null, 'complete');
    const { samples, types } = parse(await m.text());
    expect(types.get('request_total')).toBe('counter');
    expect(types.get('response_total')).toBe('counter');
    expect(types.get('response_latency_ms')).toBe('histogram');
    expect(find(samples, 'request_total', { direction: 'inbound' })).toEqual([
      {
        name: 'request_total',
        labels: {
          namespace: 'shop',
          deployment: 'checkout',
          direction: 'inbound',
          authority: 'checkout.shop.svc.cluster.local:8080',
          tls: 'true',
          client_id: 'spiffe://cluster.local/ns/ingress/sa/gateway',
        },
        value: 3,
      },
    ]);
    expect(
      find(samples, 'response_total', {
        direction: 'inbound',
        status_code: '200',
        classification: 'success',
      })[0]?.value,
    ).toBe(2);
    const failed = find(samples, 'response_total', { direction: 'inbound', classification: 'failure' });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.labels).toMatchObject({ status_code: '503', weft_reason: 'no ready endpoints' });
    // gRPC: HTTP 200 with grpc-status 14 is a failure.
    expect(
      find(samples, 'response_total', { direction: 'outbound', grpc_status_code: '14' })[0]!.labels,
    ).toMatchObject({
      classification: 'failure',
      server_id: 'spiffe://cluster.local/ns/billing/sa/payments',
      dst_namespace: 'billing',
      dst_service: 'payments',
      dst_pod: 'payments-7d9f-abc',
    });
    expect(
      find(samples, 'response_total', { direction: 'outbound', grpc_status_code: '0' })[0]!.labels
        .classification,
    ).toBe('success');
    // Histogram: cumulative buckets in ms; 4.2 falls in le=5, 12 in le=20.
    const bucket = (le: string) =>
      find(samples, 'response_latency_ms_bucket', { direction: 'inbound', status_code: '200', le })[0]!.value;
    expect(bucket('4')).toBe(0);
    expect(bucket('5')).toBe(1);
    expect(bucket('10')).toBe(1);
    expect(bucket('20')).toBe(2);
    expect(bucket('50000')).toBe(2);
    expect(bucket('+Inf')).toBe(2);
    expect(
      find(samples, 'response_latency_ms_sum', { direction: 'inbound', status_code: '200' })[0]!.value,
    ).toBeCloseTo(16.2);
    expect(
      find(samples, 'response_latency_ms_count', { direction: 'inbound', status_code: '200' })[0]!.value,
    ).toBe(2);
  });

  test('TCP families, certificate expiry, build info, errors, reloads', async () => {
    const m = new ProxyMetrics({ version: '1.2.3', build: { git_sha: 'abc' } });
    m.tcpOpen(outbound);
    m.tcpOpen(outbound);
    m.tcpClose(outbound, 100, 2000);
    m.certExpiry(1_900_000_000);
    m.protocolError('inbound', 'header-too-large');
    m.protocolError('inbound', 'header-too-large');
    m.connectionRefused('inbound', 'unauthorized');
    m.configReload('applied');
    m.configReload('invalid');
    const { samples, types } = parse(await m.text());
    const one = (name: string, labels: Record<string, string> = {}) => find(samples, name, labels)[0]?.value;
    expect(one('tcp_open_total', { direction: 'outbound' })).toBe(2);
    expect(one('tcp_close_total', { direction: 'outbound' })).toBe(1);
    expect(one('tcp_open_connections', { direction: 'outbound' })).toBe(1);
    expect(one('tcp_read_bytes_total', { direction: 'outbound' })).toBe(100);
    expect(one('tcp_write_bytes_total', { direction: 'outbound' })).toBe(2000);
    expect(types.get('identity_cert_expiration_timestamp_seconds')).toBe('gauge');
    expect(one('identity_cert_expiration_timestamp_seconds')).toBe(1_900_000_000);
    expect(find(samples, 'proxy_build_info', {})[0]!.labels).toMatchObject({
      version: '1.2.3',
      git_sha: 'abc',
    });
    expect(one('weft_protocol_errors_total', { direction: 'inbound', code: 'header-too-large' })).toBe(2);
    expect(one('weft_connections_refused_total', { reason: 'unauthorized' })).toBe(1);
    expect(one('weft_config_reloads_total', { result: 'invalid' })).toBe(1);
    // No HTTP traffic was recorded: no request series exist.
    expect(find(samples, 'request_total', {})).toEqual([]);
  });

  test('label cardinality is bounded whatever the input; overflow is counted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            authority: fc.string({ maxLength: 6 }),
            peer: fc.option(fc.string({ maxLength: 4 }), { nil: null }),
            status: fc.integer({ min: -5, max: 1200 }),
            grpc: fc.option(fc.integer({ min: -3, max: 100 }), { nil: null }),
            reason: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
          }),
          { maxLength: 300 },
        ),
        async (events) => {
          const m = new ProxyMetrics({
            version: 'x',
            maxAuthorities: 5,
            maxPeerIds: 3,
            maxReasons: 4,
            maxTrafficSeries: 12,
          });
          for (const e of events) {
            const l: TrafficLabels = {
              direction: 'inbound',
              authority: e.authority,
              tls: e.peer !== null,
              peerId: e.peer,
            };
            m.request(l);
            m.response(l, e.status, e.grpc, 1, e.reason, 'complete');
          }
          const { samples } = parse(await m.text());
          const distinct = (name: string, label: string) =>
            new Set(find(samples, name, {}).map((s) => s.labels[label])).size;
          expect(distinct('request_total', 'authority')).toBeLessThanOrEqual(6);
          expect(distinct('request_total', 'client_id')).toBeLessThanOrEqual(5); // 3 + overflow + absent
          expect(find(samples, 'request_total', {}).length).toBeLessThanOrEqual(13);
          expect(distinct('response_total', 'weft_reason')).toBeLessThanOrEqual(6);
          expect(distinct('response_total', 'grpc_status_code')).toBeLessThanOrEqual(19);
          const total = find(samples, 'request_total', {}).reduce((a, s) => a + s.value, 0);
          expect(total).toBe(events.length);
          const responses = find(samples, 'response_total', {}).reduce((a, s) => a + s.value, 0);
          expect(responses).toBe(events.length);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('an upstream inventing status codes cannot grow the series count; classification is kept', async () => {
    const m = new ProxyMetrics({ version: 'x' });
    let failures = 0;
    for (let status = 100; status <= 999; status++) {
      m.response(outbound, status, null, 1, null, 'complete');
      if (status >= 500) failures++;
    }
    const { samples } = parse(await m.text());
    const responses = find(samples, 'response_total', {});
    expect(responses.length).toBeLessThanOrEqual(130);
    expect(
      find(samples, 'response_total', { classification: 'failure' }).reduce((a, x) => a + x.value, 0),
    ).toBe(failures);
    expect(find(samples, 'response_total', { status_code: 'overflow' }).length).toBe(2);
    expect(
      new Set(find(samples, 'response_latency_ms_count', {}).map((x) => x.labels.status_code)).size,
    ).toBe(33);
    expect(
      find(samples, 'weft_metrics_label_overflow_total', { label: 'status_code' })[0]!.value,
    ).toBeGreaterThan(0);
  });

  test('label values with quotes, backslashes and newlines are escaped', async () => {
    const m = new ProxyMetrics({ version: 'x' });
    m.request({ direction: 'outbound', authority: 'a"b\\c\nd', tls: false, peerId: null });
    const { samples } = parse(await m.text());
    expect(find(samples, 'request_total', {})[0]!.labels.authority).toBe('a"b\\c\nd');
  });

  test('the same labels through different objects share one series', async () => {
    const m = new ProxyMetrics({ version: 'x' });
    m.request({ ...inbound });
    m.request({ ...inbound });
    const { samples } = parse(await m.text());
    expect(find(samples, 'request_total', {})).toHaveLength(1);
    expect(find(samples, 'request_total', {})[0]!.value).toBe(2);
  });

  test('the traffic handle records without further lookups', async () => {
    const m = new ProxyMetrics({ version: 'x' });
    const t = m.traffic(outbound);
    expect(m.traffic(outbound)).toBe(t);
    t.requestStarted();
    t.responded(0, null, 10, 'connect failed', true);
    const { samples } = parse(await m.text());
    expect(find(samples, 'response_total', {})[0]!.labels).toMatchObject({
      classification: 'failure',
      error: 'true',
      weft_reason: 'connect failed',
    });
    expect(find(samples, 'response_total', {})[0]!.labels.status_code).toBeUndefined();
  });

  test('a client cancellation is never a failed response; a response cut by the upstream is one', async () => {
    const m = new ProxyMetrics({ version: 'x' });
    for (let i = 0; i < 4; i++) m.request(inbound);
    m.response(inbound, 0, null, 30, null, 'cancelled'); // gone before any response head
    m.response(inbound, 200, null, 40, null, 'cancelled'); // gone while reading the body of a 200
    m.response(inbound, 200, null, 5, 'aborted', 'errored'); // the app's 200 body cut short
    m.response(inbound, 200, null, 5, null, 'complete');
    const { samples } = parse(await m.text());
    expect(find(samples, 'request_cancelled_total', {}).map((s) => s.value)).toEqual([1]);
    expect(find(samples, 'request_cancelled_total', {})[0]!.labels).toMatchObject({ direction: 'inbound' });
    const responses = find(samples, 'response_total', {}).map((s) => [
      s.labels.classification,
      s.labels.error,
      s.value,
    ]);
    expect(responses).toEqual(
      expect.arrayContaining([
        ['success', undefined, 2],
        ['failure', 'true', 1],
      ]),
    );
    expect(responses).toHaveLength(2);
    // Latency is observed for what got a response head: the cancellation before one has none.
    expect(find(samples, 'response_latency_ms_count', {}).reduce((n, s) => n + s.value, 0)).toBe(3);
  });

  test('uses a given registry, never the global one', async () => {
    const registry = new Registry();
    const m = createProxyMetrics({ version: 'x', registry });
    expect(m.registry).toBe(registry);
    m.request(inbound);
    expect(await registry.metrics()).toContain('request_total{');
    expect(() => createProxyMetrics({ version: 'x', registry })).toThrow(/already been registered/);
  });

  test('process metrics: the usual ones, without the per-GC histogram', async () => {
    const registry = new Registry();
    createProxyMetrics({ version: 'x', registry, processMetrics: true });
    const text = await registry.metrics();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_open_fds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).not.toContain('nodejs_gc_duration_seconds');
    // CPU, counted by the proxy itself (not prom-client's module, which loads @opentelemetry/api).
    const cpu = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const [user, system, total] = ['user_', 'system_', ''].map((k) => cpu(`process_cpu_${k}seconds_total`));
    expect(user).toBeGreaterThan(0);
    expect(system).toBeGreaterThan(0);
    expect(total).toBeGreaterThanOrEqual(user! + system!);
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
  });
});
