import { describe, expect, test } from '@jest/globals';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import { eventKey, RecentEvents } from '../kube/api.ts';
import { ProxyConfigCompiler } from './compile.ts';
import {
  crowdedService,
  pod,
  put,
  routeGroup,
  SHOP_WEIGHTS,
  service,
  shop,
  split,
  target,
  tcpRoute,
  udpRoute,
} from './fixtures.ts';
import {
  conditionsEqual,
  coreWarnings,
  desiredStatuses,
  MAX_CONDITION_MESSAGE,
  mergeConditions,
} from './status.ts';

describe('desiredStatuses', () => {
  test('a healthy split is Accepted, ResolvedRefs and Ready with its generation', () => {
    const s = shop();
    const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics).get(
      'TrafficSplit/shop/checkout',
    )!;
    expect(st.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
      ['Accepted', 'True', 'Accepted', 1],
      ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
      ['Ready', 'True', 'Programmed', 1],
    ]);
  });

  test('a missing backend: ResolvedRefs False with the field; a second split on the root: Accepted False', () => {
    const s = shop();
    put(s.services, service('shop', 'other', '10.96.9.9'));
    put(
      s.trafficSplits,
      split('shop', 'checkout', 'checkout', [
        ['checkout-v1', 1],
        ['ghost', 1],
      ]),
    );
    put(s.trafficSplits, split('shop', 'zz', 'checkout', [['checkout-v1', 1]]));
    const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
    const main = st.get('TrafficSplit/shop/checkout')!;
    expect(main.conditions[1]).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(main.conditions[1]!.message).toContain('spec.backends[1].service: Service shop/ghost not found');
    expect(main.warnings.map((w) => w.reason)).toEqual(['BackendNotFound']);
    expect(st.get('TrafficSplit/shop/zz')!.conditions[0]).toMatchObject({
      status: 'False',
      reason: 'ConflictingSplit',
    });
  });

  test('a split whose root does not exist is not Ready', () => {
    const s = shop();
    put(s.trafficSplits, split('shop', 'lost', 'nowhere', [['checkout-v1', 1]]));
    const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
    // The root has no Service, so no fragment resolved it: the status analysis still reports it.
    expect(st.get('TrafficSplit/shop/lost')!.conditions[2]).toMatchObject({ type: 'Ready', status: 'False' });
  });
});

describe('mergeConditions', () => {
  test('keeps lastTransitionTime while the status holds, moves it on a change', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const t1 = new Date('2026-01-02T00:00:00Z');
    const first = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'True', reason: 'Programmed', message: 'm', observedGeneration: 1 }],
      t0,
    );
    const same = mergeConditions(
      first,
      [{ type: 'Ready', status: 'True', reason: 'Programmed', message: 'm', observedGeneration: 1 }],
      t1,
    );
    expect(conditionsEqual(first, same)).toBe(true);
    const flipped = mergeConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'X', message: 'm', observedGeneration: 2 }],
      t1,
    );
    expect(flipped[0]!.lastTransitionTime).toBe('2026-01-02T00:00:00Z');
  });
});

describe('coreWarnings', () => {
  test('diagnostics about Services and Pods, not SMI objects, grouped per object and de-duplicated', () => {
    const s = shop();
    crowdedService(s, 'shop', 'big', 10_001);
    put(
      s.trafficSplits,
      split('shop', 'other', 'checkout', [
        ['checkout-v1', 1],
        ['checkout-v2', 1],
      ]),
    );
    const out = new ProxyConfigCompiler().compile(s);
    const w = coreWarnings(s, [...out.diagnostics, ...out.diagnostics]);
    expect([...w.keys()]).toEqual(['Service/shop/big']);
    expect(w.get('Service/shop/big')!.diagnostics.map((d) => d.reason)).toEqual(['EndpointsTruncated']);
    // With the uid of the Service the compile read.
    expect(w.get('Service/shop/big')!.uid).toBe(s.services.get('shop/big')!.uid);
    // The split conflict is the TrafficSplit's, in its status: not here.
    expect(out.diagnostics.some((d) => d.reason === 'ConflictingSplit')).toBe(true);
  });
});

test('a TrafficTarget to a ServiceAccount that runs no meshed pod is still resolved for its status', () => {
  const s = shop();
  const rules = [{ kind: 'HTTPRouteGroup', name: 'missing-hrg' }];
  s.serviceAccounts.set('shop/ghost-sa', { namespace: 'shop', name: 'ghost-sa' });
  put(s.trafficTargets, target('shop', 'to-ghost', 'ghost-sa', ['frontend'], rules));
  put(s.trafficTargets, target('shop', 'to-checkout-bad', 'checkout', ['frontend'], rules));
  const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
  const resolved = (name: string) =>
    st.get(`TrafficTarget/shop/${name}`)!.conditions.find((c) => c.type === 'ResolvedRefs');
  // The same verdict with or without pods behind the destination (before: True for the one without).
  expect(resolved('to-ghost')).toMatchObject({ status: 'False' });
  expect(resolved('to-ghost')!.reason).toBe(resolved('to-checkout-bad')!.reason);
});

test('more TrafficTargets on one port than a proxy takes: the pod still gets a valid config; those left out are not Ready', () => {
  const s = shop();
  put(s.tcpRoutes, tcpRoute('shop', 'any'));
  const names = Array.from({ length: 1_001 }, (_, i) => `t${String(i).padStart(4, '0')}`);
  for (const n of names)
    put(s.trafficTargets, target('shop', n, 'checkout', ['frontend'], [{ kind: 'TCPRoute', name: 'any' }]));
  const out = new ProxyConfigCompiler().compile(s);
  // Before: the config failed validation (1,001 rules on a port) and checkout-1 got none at all.
  const cfg = out.proxies.get('shop/checkout-1')?.config;
  expect(cfg).toBeDefined();
  expect(validateProxyConfig(JSON.parse(JSON.stringify(cfg))).ok).toBe(true);
  const rules = cfg!.inbound.ports.flatMap((p) => p.authorizations.map((a) => a.name));
  expect(rules).toContain('shop/t0000');
  expect(rules).not.toContain('shop/t1000');
  const st = desiredStatuses(s, out.diagnostics);
  const ready = (n: string) => st.get(`TrafficTarget/shop/${n}`)!.conditions.find((c) => c.type === 'Ready');
  expect(ready('t0000')).toMatchObject({ status: 'True' });
  expect(ready('t1000')).toMatchObject({ status: 'False', reason: 'NotProgrammed' });
});

// Within the SMI CRDs' own limits (64 route groups of 256 matches each on a split, 256 rules on a target), a
// proxy config's limits of 1,000 routes per service and 1,000 matches per rule can be passed.
const manyMatches = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, pathRegex: `/${prefix}/${i}` }));

test('a split over more route matches than a proxy takes: the first 1,000 are programmed, the split says the rest are not', () => {
  const s = shop();
  const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
  for (const g of groups) put(s.httpRouteGroups, routeGroup('shop', g, manyMatches(g, 250)));
  put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS, groups));
  const out = new ProxyConfigCompiler().compile(s);
  // Before: the checkout fragment failed validation and checkout was left out of every client's config.
  const cfg = out.proxies.get('shop/frontend-1')!.config;
  expect(validateProxyConfig(JSON.parse(JSON.stringify(cfg))).ok).toBe(true);
  const checkout = cfg.outbound.services.find((x) => x.name === 'checkout')!;
  expect(checkout.routes).toHaveLength(1000);
  expect(checkout.routes.at(-1)!.name).toBe('g3/g3249');
  const ready = desiredStatuses(s, out.diagnostics)
    .get('TrafficSplit/shop/checkout')!
    .conditions.find((c) => c.type === 'Ready');
  expect(ready).toMatchObject({ status: 'False', reason: 'PartiallyProgrammed' });
  expect(ready!.message).toBe(
    'spec.matches: 1250 route matches; proxies take the first 1000 in order, from g4/g40 on requests go to the root service',
  );
});

test('a TrafficTarget over more HTTP matches than a proxy takes: the first 1,000 are programmed, the rest denied, the target says so', () => {
  const s = shop();
  const groups = ['h0', 'h1', 'h2', 'h3', 'h4'];
  for (const g of groups) put(s.httpRouteGroups, routeGroup('shop', g, manyMatches(g, 250)));
  put(
    s.trafficTargets,
    target(
      'shop',
      'frontend-to-checkout',
      'checkout',
      ['frontend'],
      groups.map((name) => ({ kind: 'HTTPRouteGroup', name })),
    ),
  );
  const out = new ProxyConfigCompiler().compile(s);
  // Before: checkout-1's config failed validation and the pod got none.
  const cfg = out.proxies.get('shop/checkout-1')?.config;
  expect(cfg).toBeDefined();
  expect(validateProxyConfig(JSON.parse(JSON.stringify(cfg))).ok).toBe(true);
  const auth = cfg!.inbound.ports[0]!.authorizations.find((a) => a.name === 'shop/frontend-to-checkout')!;
  expect(auth.httpMatches).toHaveLength(1000);
  const ready = desiredStatuses(s, out.diagnostics)
    .get('TrafficTarget/shop/frontend-to-checkout')!
    .conditions.find((c) => c.type === 'Ready');
  expect(ready).toMatchObject({ status: 'False', reason: 'PartiallyProgrammed' });
  expect(ready!.message).toContain('1250 HTTP matches on port 8080; proxies take the first 1000');
});

test('a TrafficTarget naming ServiceAccounts that do not exist: ResolvedRefs=False ServiceAccountNotFound, each named', () => {
  const s = shop();
  put(
    s.trafficTargets,
    target('shop', 'typo', 'chekout', ['frontnd', 'frontend'], [{ kind: 'TCPRoute', name: 'all' }]),
  );
  const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
  const conditions = st.get('TrafficTarget/shop/typo')!.conditions;
  // Before: Accepted, ResolvedRefs and Ready all True, while the rule could never admit anyone.
  expect(conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({
    status: 'False',
    reason: 'ServiceAccountNotFound',
    message:
      'spec.destination: ServiceAccount shop/chekout not found; spec.sources[0]: ServiceAccount shop/frontnd not found',
  });
});

test('a condition message is cut to the apiserver limit, never past it (a longer one failed the whole status write)', () => {
  const s = shop();
  // 256 rules naming route groups that do not exist, with long names: each adds a sentence to ResolvedRefs.
  const rules = Array.from({ length: 256 }, (_, i) => ({
    kind: 'HTTPRouteGroup',
    name: `a-route-group-with-a-rather-long-name-that-nobody-created-${String(i).padStart(3, '0')}-${'x'.repeat(50)}`,
  }));
  put(s.trafficTargets, target('shop', 'long', 'checkout', ['frontend'], rules));
  const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
  const resolved = st.get('TrafficTarget/shop/long')!.conditions.find((c) => c.type === 'ResolvedRefs')!;
  expect(resolved.message.length).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE);
  expect(resolved.message).toMatch(
    /\(\d+ characters; cut to fit the condition; the Events have every problem\)$/,
  );
  expect(resolved.message.startsWith('spec.rules[0]: HTTPRouteGroup shop/a-route-group')).toBe(true);
});

test('kstatus conditions: Stalled while not accepted, Reconciling while not Ready, neither when healthy', () => {
  const s = shop();
  // A second split on checkout's root: not accepted (the older one wins). One whose root does not exist yet.
  put(s.trafficSplits, split('shop', 'zz-second', 'checkout', [['checkout-v2', 1]]));
  put(s.trafficSplits, split('shop', 'early', 'not-yet', [['checkout-v1', 1]]));
  const st = desiredStatuses(s, new ProxyConfigCompiler().compile(s).diagnostics);
  const types = (name: string) =>
    st.get(`TrafficSplit/shop/${name}`)!.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  expect(types('checkout')).toEqual([
    'Accepted=True/Accepted',
    'ResolvedRefs=True/ResolvedRefs',
    'Ready=True/Programmed',
  ]);
  // Before: no Stalled, so Flux's health check (kstatus) counted the rejected split as Current.
  expect(types('zz-second')).toEqual([
    'Accepted=False/ConflictingSplit',
    'ResolvedRefs=True/ResolvedRefs',
    'Ready=False/NotAccepted',
    'Stalled=True/ConflictingSplit',
  ]);
  expect(types('early')).toEqual([
    'Accepted=True/Accepted',
    'ResolvedRefs=False/RootServiceNotFound',
    'Ready=False/RootServiceNotFound',
    'Reconciling=True/Progressing',
  ]);
});

test('a TrafficTarget whose destination runs pods without a proxy is not Ready until every running pod is meshed; finished pods and a ServiceAccount without pods do not hold it back', () => {
  const s = shop();
  // One compiler for every step, as the operator runs it: its memoized sections must not hide a pod change.
  const compiler = new ProxyConfigCompiler();
  const status = () =>
    desiredStatuses(s, compiler.compile(s).diagnostics).get('TrafficTarget/shop/frontend-to-checkout')!;
  const plain = (name: string, ip: string) => ({ ...pod('shop', name, 'checkout', ip), meshed: false });
  const healthy = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs', 'Ready=True/Programmed'];
  const types = () => status().conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  expect(types()).toEqual(healthy);

  // Three pods created before injection was enabled, next to the two meshed ones, and a finished one.
  put(s.pods, plain('checkout-5', '10.244.0.15'));
  put(s.pods, plain('checkout-3', '10.244.0.13'));
  put(s.pods, plain('checkout-4', '10.244.0.14'));
  put(s.pods, { ...plain('checkout-migrate', '10.244.0.16'), terminated: true });
  const st = status();
  // Before: Ready=True, while nothing enforced the target on checkout-3, -4 and -5.
  expect(st.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
    'Accepted=True/Accepted',
    'ResolvedRefs=True/ResolvedRefs',
    'Ready=False/DestinationNotMeshed',
    'Reconciling=True/Progressing',
  ]);
  const message =
    '3 of 5 running pods of ServiceAccount shop/checkout are not meshed (checkout-3, checkout-4, ...): no ' +
    'proxy runs in front of them, so nothing enforces this TrafficTarget there. Set the annotation ' +
    'weft.dev/inject: enabled on their pod template or namespace (and not disabled on the pods), then ' +
    're-create the pods (e.g. kubectl rollout restart): the proxy is injected only when a pod is created';
  expect(st.conditions.find((c) => c.type === 'Ready')!.message).toBe(message);
  expect(st.conditions.find((c) => c.type === 'Reconciling')!.message).toBe(
    `DestinationNotMeshed: ${message}`,
  );
  expect(st.warnings.map((w) => w.reason)).toEqual(['DestinationNotMeshed']);

  // One left: the count and the example follow.
  put(s.pods, pod('shop', 'checkout-3', 'checkout', '10.244.0.13'));
  s.pods.delete('shop/checkout-4');
  const later = status();
  expect(later.conditions.find((c) => c.type === 'Ready')!.message).toMatch(
    /^1 of 4 running pods of ServiceAccount shop\/checkout are not meshed \(checkout-5\): /,
  );
  // The status follows every pod, but the Warning Event is one per problem: a rollout does not write one
  // Event per pod it replaces (the recorder de-duplicates by eventKey).
  const target = {
    apiVersion: 'access.smi-spec.io/v1alpha3',
    kind: 'TrafficTarget',
    namespace: 'shop',
    name: 'x',
  };
  const keyOf = (w: { reason: string; message: string; eventKey?: string }) =>
    eventKey(target, w.reason, w.eventKey ?? w.message);
  expect(later.warnings[0]!.message).not.toBe(st.warnings[0]!.message);
  const sent = new RecentEvents(50 * 60_000);
  expect(sent.due(keyOf(st.warnings[0]!), 0)).not.toBeNull();
  expect(sent.due(keyOf(later.warnings[0]!), 1000)).toBeNull();
  // Re-created meshed: Ready again, and Reconciling gone.
  put(s.pods, pod('shop', 'checkout-5', 'checkout', '10.244.0.15'));
  expect(types()).toEqual(healthy);
  // An unmeshed pod that finished (a Job's) runs nothing to enforce on.
  put(s.pods, { ...plain('checkout-5', '10.244.0.15'), terminated: true });
  expect(types()).toEqual(healthy);
  // No running pod at all: nothing to enforce yet (the rules are programmed as pods come), as before.
  for (const k of [...s.pods.keys()]) if (k.startsWith('shop/checkout-')) s.pods.delete(k);
  put(s.pods, { ...plain('checkout-6', '10.244.0.17'), terminated: true });
  expect(types()).toEqual(healthy);
});

test('a hostNetwork destination pod, which can never be meshed, is named as such: the advice is not to re-create it', () => {
  const s = shop();
  const compiler = new ProxyConfigCompiler();
  const ready = () =>
    desiredStatuses(s, compiler.compile(s).diagnostics)
      .get('TrafficTarget/shop/frontend-to-checkout')!
      .conditions.find((c) => c.type === 'Ready')!;
  const host = (name: string, ip: string) => ({
    ...pod('shop', name, 'checkout', ip),
    meshed: false,
    hostNetwork: true,
  });
  put(s.pods, host('checkout-agent', '10.0.0.5'));
  expect(ready()).toMatchObject({ status: 'False', reason: 'DestinationNotMeshed' });
  expect(ready().message).toContain('hostNetwork pods are never meshed');
  expect(ready().message).not.toContain('re-create');
  // With an ordinary unmeshed pod too, both pieces of advice.
  put(s.pods, { ...pod('shop', 'checkout-9', 'checkout', '10.244.0.19'), meshed: false });
  expect(ready().message).toContain('re-create the pods');
  expect(ready().message).toContain('1 of them use hostNetwork');
  // Other advice, another problem: its own Event.
  const keys = () =>
    desiredStatuses(s, compiler.compile(s).diagnostics)
      .get('TrafficTarget/shop/frontend-to-checkout')!
      .warnings.map((w) => w.eventKey);
  expect(keys()).toEqual(['shop/checkout mixed']);
  s.pods.delete('shop/checkout-agent');
  expect(keys()).toEqual(['shop/checkout inject']);
});

test('a TrafficTarget with a UDPRoute rule: Ready says what is not enforced (no proxy sees UDP), and a warning is raised', () => {
  const s = shop();
  put(s.udpRoutes, udpRoute('shop', 'dns', [53]));
  put(
    s.trafficTargets,
    target(
      'shop',
      'frontend-to-checkout',
      'checkout',
      ['frontend'],
      [
        { kind: 'TCPRoute', name: 'all' },
        { kind: 'UDPRoute', name: 'dns' },
      ],
    ),
  );
  const compiled = new ProxyConfigCompiler().compile(s);
  const st = desiredStatuses(s, compiled.diagnostics).get('TrafficTarget/shop/frontend-to-checkout')!;
  // Ready stays True (nothing outside the object would make it progress: False would hold GitOps health checks for
  // good), and says what is not enforced. Before, it said "programmed into the proxies" and nothing more.
  expect(st.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
    'Accepted=True/Accepted',
    'ResolvedRefs=True/ResolvedRefs',
    'Ready=True/Programmed',
  ]);
  expect(st.conditions.find((c) => c.type === 'Ready')!.message).toBe(
    'programmed into the proxies; not enforced: spec.rules[1]: UDPRoute shop/dns: Weft proxies do not intercept ' +
      'UDP (proxy-init redirects TCP only), so UDP to the destination pods is neither restricted nor granted by ' +
      'this TrafficTarget; restrict UDP with a NetworkPolicy',
  );
  expect(st.warnings.map((w) => w.reason)).toEqual(['UDPNotEnforced']);
});
