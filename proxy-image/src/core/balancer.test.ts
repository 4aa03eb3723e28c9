import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { ALL_CIRCUITS_OPEN, EndpointState, NO_READY_ENDPOINTS, P2cBalancer } from './balancer.ts';
import { CircuitBreakerPolicy } from './circuit-breaker.ts';
import { SeededRandom } from './random.ts';

const settings = { decayMs: 10_000, defaultRttMs: 30 };
const policy = new CircuitBreakerPolicy({
  consecutiveFailures: 2,
  backoff: { baseMs: 1000, maxMs: 1000, jitter: 0 },
});

function endpoints(n: number, now = 0): EndpointState[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new EndpointState(
        { address: `10.0.0.${i + 1}`, port: 80, identity: null, zone: null, weight: 1 },
        'http1',
        policy,
        settings,
        now,
      ),
  );
}

describe('peak EWMA', () => {
  test('starts at the default RTT, takes peaks at once, decays toward lower samples', () => {
    const [e] = endpoints(1);
    expect(e!.estimate(0, settings.decayMs)).toBe(30);
    e!.recordLatency(0, 100, settings.decayMs);
    expect(e!.estimate(0, settings.decayMs)).toBe(100);
    e!.recordLatency(10_000, 10, settings.decayMs);
    const w = Math.exp(-1);
    expect(e!.estimate(10_000, settings.decayMs)).toBeCloseTo(100 * w + 10 * (1 - w), 9);
    // Without responses the estimate decays (an idle slow endpoint is eventually retried).
    expect(e!.estimate(1_000_000, settings.decayMs)).toBeLessThan(0.001);
  });

  test('the first response replaces the default RTT: a fast new endpoint looks fast at once', () => {
    const [e] = endpoints(1);
    e!.recordLatency(5, 1, settings.decayMs);
    // Decaying from the 30 ms guess instead would leave ~30 ms here for seconds.
    expect(e!.estimate(5, settings.decayMs)).toBe(1);
    e!.recordLatency(10, 0.5, settings.decayMs);
    expect(e!.estimate(10, settings.decayMs)).toBeGreaterThan(0.99);
  });

  test('in-flight requests raise the cost; an idle-decayed estimate is not free under load', () => {
    const [e] = endpoints(1);
    e!.recordLatency(0, 50, settings.decayMs); // a peak: taken at once
    expect(e!.cost(0, settings)).toBe(50);
    e!.dispatched(0);
    e!.dispatched(0);
    expect(e!.cost(0, settings)).toBe(150);
    expect(e!.cost(10_000_000, settings)).toBe(90); // decayed to ~0: charged defaultRtt * 3
  });

  test('weight divides the cost', () => {
    const [e] = endpoints(1);
    e!.weight = 3;
    expect(e!.cost(0, settings)).toBe(10);
  });
});

describe('P2cBalancer', () => {
  test('sends most traffic to the faster endpoint in a closed-loop simulation', () => {
    const eps = endpoints(2);
    const latency = new Map([
      [eps[0]!, 10],
      [eps[1]!, 50],
    ]);
    const b = new P2cBalancer(eps, settings);
    const rng = new SeededRandom(7);
    const random = rng.next.bind(rng);
    let now = 0;
    const counts = new Map<EndpointState, number>();
    for (let i = 0; i < 2000; i++) {
      const e = b.pick(now, random) as EndpointState;
      e.dispatched(now);
      counts.set(e, (counts.get(e) ?? 0) + 1);
      now += 5;
      e.observe(now, latency.get(e)!, 'success', settings, rng);
    }
    expect(counts.get(eps[0]!)! / 2000).toBeGreaterThan(0.9);
  });

  test('new endpoints are optimistic but bounded: cheaper than a slow peer, not than a fast one', () => {
    const [slow, fresh] = endpoints(2);
    const rng = new SeededRandom(1);
    slow!.recordLatency(0, 100, settings.decayMs);
    expect(new P2cBalancer([slow!, fresh!], settings).pick(0, rng.next.bind(rng))).toBe(fresh);
    const [fast] = endpoints(1);
    fast!.recordLatency(100_000, 5, settings.decayMs);
    const [fresh2] = endpoints(1, 100_000); // discovered now: starts at defaultRttMs (30)
    expect(new P2cBalancer([fast!, fresh2!], settings).pick(100_000, rng.next.bind(rng))).toBe(fast);
  });

  test('equal endpoints are picked uniformly (chi-square)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer(), (n, seed) => {
        const eps = endpoints(n);
        const b = new P2cBalancer(eps, settings);
        const rng = new SeededRandom(seed);
        const random = rng.next.bind(rng);
        const counts = new Map<EndpointState, number>();
        const total = 400 * n;
        for (let i = 0; i < total; i++) {
          const e = b.pick(0, random) as EndpointState;
          counts.set(e, (counts.get(e) ?? 0) + 1);
        }
        let chi = 0;
        for (const e of eps) chi += ((counts.get(e) ?? 0) - 400) ** 2 / 400;
        // Above the chi-square critical value for p = 1e-6 at up to 11 degrees of freedom: flakes are
        // practically impossible, while an endpoint that is never picked adds 400 on its own.
        expect(chi).toBeLessThan(45);
      }),
      { numRuns: 30 },
    );
  });

  test('skips open circuits; reports when none is left; empty list has its own reason', () => {
    const eps = endpoints(3);
    const rng = new SeededRandom(3);
    const random = rng.next.bind(rng);
    for (const e of eps.slice(0, 2)) {
      e.observe(0, 1, 'failure', settings, rng);
      e.observe(0, 1, 'failure', settings, rng);
    }
    const b = new P2cBalancer(eps, settings);
    for (let i = 0; i < 100; i++) expect(b.pick(10, random)).toBe(eps[2]);
    eps[2]!.observe(0, 1, 'connect-failure', settings, rng);
    eps[2]!.observe(0, 1, 'connect-failure', settings, rng);
    expect(b.pick(10, random)).toBe(ALL_CIRCUITS_OPEN);
    expect(new P2cBalancer([], settings).pick(0, random)).toBe(NO_READY_ENDPOINTS);
    // After the backoff the circuits half-open and the endpoints are eligible again.
    expect(b.pick(2000, random)).toHaveProperty('kind', 'endpoint');
  });

  test('never picks an endpoint whose circuit is open; reports none only when none is admissible', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.integer(), (open, seed) => {
        const rng = new SeededRandom(seed);
        const random = rng.next.bind(rng);
        const eps = endpoints(open.length);
        open.forEach((o, i) => {
          if (o) {
            eps[i]!.observe(0, 1, 'failure', settings, rng);
            eps[i]!.observe(0, 1, 'failure', settings, rng);
          }
        });
        const b = new P2cBalancer(eps, settings);
        for (let k = 0; k < 50; k++) {
          const e = b.pick(10, random);
          if (open.every((o) => o)) expect(e).toBe(ALL_CIRCUITS_OPEN);
          else expect(open[eps.indexOf(e as EndpointState)]).toBe(false);
        }
      }),
    );
  });

  test('a retry avoids the endpoint that just failed unless it is the only admissible one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer(), (n, seed) => {
        const eps = endpoints(n);
        const rng = new SeededRandom(seed);
        const random = rng.next.bind(rng);
        const b = new P2cBalancer(eps, settings);
        for (let k = 0; k < 30; k++) expect(b.pick(0, random, eps[0]!)).not.toBe(eps[0]);
        // Open every other circuit: the avoided endpoint is the last resort.
        for (const e of eps.slice(1)) {
          e.observe(0, 1, 'failure', settings, rng);
          e.observe(0, 1, 'failure', settings, rng);
        }
        expect(b.pick(1, random, eps[0]!)).toBe(eps[0]);
      }),
    );
    const [only] = endpoints(1);
    expect(new P2cBalancer([only!], settings).pick(0, Math.random, only!)).toBe(only);
  });

  test('after a connect failure an idle endpoint costs more than a busy live one', () => {
    const [dead, live] = endpoints(2);
    const rng = new SeededRandom(5);
    live!.recordLatency(100, 5, settings.decayMs);
    for (let k = 0; k < 4; k++) live!.dispatched(100);
    dead!.dispatched(100);
    dead!.observe(100, 1, 'connect-failure', settings, rng);
    expect(dead!.cost(100, settings)).toBeGreaterThan(live!.cost(100, settings));
  });

  test('deterministic for a given random sequence', () => {
    const run = () => {
      const eps = endpoints(5);
      const b = new P2cBalancer(eps, settings);
      const rng = new SeededRandom(42);
      return Array.from({ length: 50 }, () => eps.indexOf(b.pick(0, rng.next.bind(rng)) as EndpointState));
    };
    expect(run()).toEqual(run());
  });
});
