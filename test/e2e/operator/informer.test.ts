// The operator's informer (operator/src/kube/record-informer.ts) against the cluster's real kube-apiserver:
// a paged list then watch, adds, updates and deletes as they happen, and a resume from a resourceVersion the
// apiserver no longer keeps (410 Gone), which must relist and report what was deleted meanwhile.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import { RecordInformer } from '../../../operator/src/kube/record-informer.ts';
import { createTestNamespace, deleteNamespace, kubectl, waitFor } from '../kube.ts';

let ns = '';
const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const informers: RecordInformer[] = [];

beforeAll(async () => {
  ns = await createTestNamespace('informer');
  for (const n of ['a', 'b', 'c'])
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: n }, data: { v: '1' } },
    });
});
afterAll(async () => {
  for (const i of informers) i.stop();
  if (ns !== '') await deleteNamespace(ns);
});

/** A RecordInformer on this namespace's ConfigMaps that mirrors them into a map of name -> data.v. */
function mirror(resumeFrom?: string, watch = new Watch(kc)) {
  const state = new Map<string, string>();
  const listed: string[][] = [];
  const errors: unknown[] = [];
  let pages = 0;
  const name = (key: string) => key.slice(ns.length + 1);
  const informer = new RecordInformer({
    path: `/api/v1/namespaces/${ns}/configmaps`,
    watch,
    // Pages of two objects: every list here takes several requests.
    list: (p) => {
      pages++;
      return core.listNamespacedConfigMap({ namespace: ns, limit: p.limit, _continue: p.continue });
    },
    pageSize: 2,
    handlers: {
      upsert: (o: KubernetesObject & { data?: Record<string, string> }) =>
        state.set(o.metadata!.name!, o.data?.v ?? ''),
      remove: (key) => state.delete(name(key)),
      listed: (keys) => {
        listed.push([...keys].map(name).sort());
        for (const k of [...state.keys()]) if (!keys.has(`${ns}/${k}`)) state.delete(k);
      },
      error: (err) => errors.push(err),
    },
    ...(resumeFrom === undefined ? {} : { resumeFrom }),
  });
  informers.push(informer);
  const names = () => [...state.keys()].filter((k) => k !== 'kube-root-ca.crt').sort();
  return { informer, state, listed, errors, names, pages: () => pages };
}

test('lists, then follows adds, updates and deletes as they happen', async () => {
  const m = mirror();
  await m.informer.start();
  expect(m.names()).toEqual(['a', 'b', 'c']);
  expect(m.listed.length).toBe(1);
  expect(m.pages()).toBe(2); // a, b, c and kube-root-ca.crt
  expect(m.informer.latestResourceVersion()).not.toBe('');

  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'd' }, data: { v: '1' } },
  });
  await kubectl(['-n', ns, 'patch', 'configmap', 'a', '--type=merge', '-p', '{"data":{"v":"2"}}']);
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'b' });
  await waitFor('the watch to deliver the add, the update and the delete', 30_000, async () =>
    JSON.stringify(m.names()) === '["a","c","d"]' && m.state.get('a') === '2' ? true : undefined,
  );
  expect(m.listed.length).toBe(1);
  expect(m.errors).toEqual([]);
});

test('resuming from a version the apiserver no longer keeps (410 Gone) relists and drops what was deleted', async () => {
  // The state a stale informer would hold: an object deleted since, and the others with old data.
  const m = mirror('1');
  m.state.set('gone-while-away', '1');
  m.state.set('c', 'stale');
  await m.informer.start();
  await waitFor('a relist after 410', 30_000, async () => (m.listed.length >= 1 ? true : undefined));
  expect(m.listed[0]!.filter((k) => k !== 'kube-root-ca.crt')).toEqual(['a', 'c', 'd']);
  expect(m.names()).toEqual(['a', 'c', 'd']);
  expect(m.state.get('c')).toBe('1');
  expect(m.errors).toEqual([]);
  // And it watches from the relisted version on.
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'e' }, data: { v: '1' } },
  });
  await waitFor('the add after the relist', 30_000, async () => (m.state.has('e') ? true : undefined));
});

test('a quiet kind stays watched: after watches end for inactivity, a change still arrives at once', async () => {
  // client-node's Watch ends a watch that delivered nothing for requestTimeoutMs (30 s) with TimeoutError;
  // shortened here so that several quiet timeouts pass within the test.
  const watch = new Watch(kc);
  (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 1000;
  const m = mirror(undefined, watch);
  await m.informer.start();
  await new Promise((r) => setTimeout(r, 7000));
  const created = Date.now();
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'quiet' }, data: { v: '1' } },
  });
  await waitFor('the add after quiet timeouts', 30_000, async () =>
    m.state.has('quiet') ? true : undefined,
  );
  // At most one reconnect's worth of delay (the resume finds the add by its resourceVersion), not a backoff.
  expect(Date.now() - created).toBeLessThan(1500);
  expect(m.listed.length).toBe(1);
  expect(m.errors).toEqual([]);
}, 30_000);

test('a stopped informer delivers nothing more', async () => {
  const m = mirror();
  await m.informer.start();
  m.informer.stop();
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'f' }, data: { v: '1' } },
  });
  // The running informers of the tests above deliver an add within milliseconds; give it a second.
  await new Promise((r) => setTimeout(r, 1000));
  expect(m.state.has('f')).toBe(false);
  expect(m.errors).toEqual([]);
});
