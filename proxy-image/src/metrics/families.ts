// Metric families for the per-request hot path, exposed through a prom-client Registry.
//
// prom-client's own Counter and Histogram hash the label object on every inc()/observe() (even through
// labels() children). Here a series is a plain object the caller keeps: recording is one number
// addition (a bucket search for histograms), and label sets are formatted only at scrape time. Each family
// implements what Registry needs from a metric (name, help, type, get()), so it is registered like any
// prom-client metric and rendered by prom-client's exposition code.

import type { Metric, Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

/** What prom-client's Registry reads from a metric at scrape time. */
export interface FamilySnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: { labels: Labels; value: number; metricName?: string }[];
  aggregator: 'sum' | 'omit';
}

/** One counter or gauge series: mutate `value` directly. */
export class ScalarSeries {
  readonly labels: Labels;
  value = 0;
  constructor(labels: Labels) {
    this.labels = labels;
  }
}

/** One histogram series. Buckets hold per-bucket (not cumulative) counts until scrape. */
export class HistogramSeries {
  readonly labels: Labels;
  private readonly bounds: Float64Array;
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Labels, bounds: Float64Array) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1); // last: above every bound (+Inf only)
  }

  observe(v: number): void {
    const b = this.bounds;
    // Binary search for the first bound >= v.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]!++;
    this.sum += v;
    this.count++;
  }
}

abstract class Family<S extends { labels: Labels }> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected readonly series = new Map<string, S>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /** The series for a label set, created on first use. `key` must identify the label set uniquely. */
  protected getOrCreate(key: string, labels: Labels, make: (l: Labels) => S): S {
    let s = this.series.get(key);
    if (s === undefined) {
      s = make(Object.freeze({ ...labels }));
      this.series.set(key, s);
    }
    return s;
  }

  get size(): number {
    return this.series.size;
  }

  /** Registers this family on a registry (prom-client renders it). */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  abstract get(): Promise<FamilySnapshot>;
}

/** Counters and gauges: one number per label set. */
abstract class ScalarFamily extends Family<ScalarSeries> {
  private readonly compute: ((s: ScalarSeries) => number) | null;

  /** `compute`, when given, derives each series' value at scrape time. */
  constructor(name: string, help: string, compute: ((s: ScalarSeries) => number) | null = null) {
    super(name, help);
    this.compute = compute;
  }

  with(key: string, labels: Labels): ScalarSeries {
    return this.getOrCreate(key, labels, (l) => new ScalarSeries(l));
  }

  protected values(): FamilySnapshot['values'] {
    const values: FamilySnapshot['values'] = [];
    for (const s of this.series.values()) {
      values.push({ labels: s.labels, value: this.compute === null ? s.value : this.compute(s) });
    }
    return values;
  }
}

export class CounterFamily extends ScalarFamily {
  readonly type = 'counter' as const;

  async get(): Promise<FamilySnapshot> {
    return { name: this.name, help: this.help, type: 'counter', values: this.values(), aggregator: 'sum' };
  }
}

export class GaugeFamily extends ScalarFamily {
  readonly type = 'gauge' as const;

  async get(): Promise<FamilySnapshot> {
    return { name: this.name, help: this.help, type: 'gauge', values: this.values(), aggregator: 'omit' };
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram' as const;
  private readonly bounds: Float64Array;
  private readonly boundLabels: string[];

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new RangeError(`${name}: buckets must increase`);
    }
    this.bounds = Float64Array.from(buckets);
    this.boundLabels = buckets.map((b) => String(b));
  }

  with(key: string, labels: Labels): HistogramSeries {
    return this.getOrCreate(key, labels, (l) => new HistogramSeries(l, this.bounds));
  }

  async get(): Promise<FamilySnapshot> {
    const values: FamilySnapshot['values'] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.boundLabels.length; i++) {
        cumulative += s.counts[i]!;
        values.push({
          metricName: bucketName,
          labels: { ...s.labels, le: this.boundLabels[i]! },
          value: cumulative,
        });
      }
      values.push({ metricName: bucketName, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}

/**
 * Admits at most `limit` distinct values of one label; later ones map to `overflow`. Keeps the number of
 * series bounded whatever clients send (authorities, peer identities, reasons).
 */
export class BoundedLabel {
  private readonly admitted = new Set<string>();
  private readonly limit: number;
  readonly overflowValue: string;
  /** Counts the values replaced by the overflow value. */
  readonly overflows: ScalarSeries;

  constructor(limit: number, overflows: ScalarSeries = new ScalarSeries({}), overflowValue = 'overflow') {
    this.limit = limit;
    this.overflows = overflows;
    this.overflowValue = overflowValue;
  }

  admit(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size < this.limit) {
      this.admitted.add(value);
      return value;
    }
    this.overflows.value++;
    return this.overflowValue;
  }
}
