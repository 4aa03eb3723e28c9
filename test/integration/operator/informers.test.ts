// ClusterWatcher against a scripted apiserver on loopback (real HTTP list and watch streams): initial sync, watch
// events, a 410 Gone that forces a relist (objects deleted meanwhile disappear), and a broken watch followed by
// failing requests (the informer restarts with backoff and resumes).
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ClusterWatcher, type WatchedKindName } from '../../../operator/src/kube/informers.ts';
import { DEFAULT_MESH_SETTINGS } from '../../../operator/src/model/cluster.ts';
import { waitFor } from '../sockets.ts';

interface Collection {
  items: object[];
  rv: number;
  lists: number;
  failRequests: number;
  watches: http.ServerResponse[];
}

const collections = new Map<string, Collection>();
const col = (path: string): Collection => {
  let c = collections.get(path);
  if (c === undefined) {
    c = { items: [], rv: 1, lists: 0, failRequests: 0, watches: [] };
    collections.set(path, c);
  }
  return c;
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const c = col(url.pathname);
  if (c.failRequests > 0) {
    c.failRequests--;
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code: 500,
        message: 'scripted failure',
      }),
    );
    return;
  }
  if (url.searchParams.get('watch') === 'true') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    c.watches.push(res);
    res.on('close', () => {
      c.watches = c.watches.filter((w) => w !== res);
    });
    return;
  }
  c.lists++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      kind: 'List',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(c.rv) },
      items: c.items,
    }),
  );
});

const svc = (name: string, rv: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default', resourceVersion: String(rv) },
  spec: { clusterIP: '10.96.0.1', ports: [{ port: 80, protocol: 'TCP' }] },
});
const podObj = (name: string, rv: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', resourceVersion: String(rv), uid: name },
  spec: { serviceAccountName: 'default', containers: [{ name: 'c', image: 'x' }] },
});
const send = (path: string, event: object) => {
  for (const w of col(path).watches) w.write(`${JSON.stringify(event)}\n`);
};

let watcher: ClusterWatcher;
const errors: WatchedKindName[] = [];
const changes: string[] = [];

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  col('/api/v1/services').items = [svc('a', 10)];
  col('/api/v1/services').rv = 10;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'scripted' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  watcher = new ClusterWatcher({
    kubeConfig: kc,
    settings: { ...DEFAULT_MESH_SETTINGS, trustAnchors: [] },
    log: pino({ level: 'silent' }),
    onChange: (kind, key) => changes.push(`${kind}:${key}`),
    observer: { event: () => {}, error: (k) => errors.push(k), lag: () => {} },
    maxRestartDelayMs: 200,
  });
  await watcher.start();
});

afterAll(async () => {
  await watcher.stop();
  for (const c of collections.values()) for (const w of c.watches) w.destroy();
  server.closeAllConnections();
  server.close();
});

test('syncs every kind from the lists, then follows watch events', async () => {
  expect(watcher.synced).toBe(true);
  expect([...watcher.snapshot().services.keys()]).toEqual(['default/a']);
  await waitFor('services watch open', () =>
    col('/api/v1/services').watches.length === 1 ? true : undefined,
  );
  send('/api/v1/services', { type: 'ADDED', object: svc('b', 11) });
  await waitFor('b seen', () => (watcher.snapshot().services.has('default/b') ? true : undefined));
  expect(changes).toContain('services:default/b');
});

test('410 Gone: relists, and an object deleted while the watch was gone disappears', async () => {
  const c = col('/api/v1/services');
  const listsBefore = c.lists;
  c.items = [svc('b', 20)];
  c.rv = 20;
  send('/api/v1/services', {
    type: 'ERROR',
    object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired' },
  });
  for (const w of c.watches) w.end();
  await waitFor('relist', () => (c.lists > listsBefore ? true : undefined));
  await waitFor('a removed', () => (!watcher.snapshot().services.has('default/a') ? true : undefined));
  expect([...watcher.snapshot().services.keys()]).toEqual(['default/b']);
  expect(changes).toContain('services:default/a');
});

test('a broken watch and failing requests: the informer restarts with backoff and resumes', async () => {
  const c = col('/api/v1/pods');
  await waitFor('pods watch open', () => (c.watches.length === 1 ? true : undefined));
  c.failRequests = 2;
  for (const w of c.watches) w.destroy();
  await waitFor('an informer error', () => (errors.includes('pods') ? true : undefined));
  await waitFor(
    'pods watch re-opened',
    () => (c.watches.length === 1 && c.failRequests === 0 ? true : undefined),
    15_000,
  );
  send('/api/v1/pods', { type: 'ADDED', object: podObj('p1', 30) });
  await waitFor('p1 seen after the restart', () =>
    watcher.snapshot().pods.has('default/p1') ? true : undefined,
  );
  expect(watcher.synced).toBe(true);
});
