// The informer's own bookkeeping (generations, reconnects, paging, what start() reports), against a scripted
// stand-in for client-node's Watch and list calls. Its behaviour against the real apiserver is
// test/e2e/operator/informer.test.ts.
import { expect, test } from '@jest/globals';
import type { KubernetesListObject, KubernetesObject, Watch } from '@kubernetes/client-node';
import { type ListPage, RecordInformer } from './record-informer.ts';

interface OpenWatch {
  version: string;
  aborted: boolean;
  event(phase: string, obj: unknown): void;
  end(err: unknown): void;
}

/** A Watch whose watches the test drives; `failNext` makes the next one fail the way a refused request does. */
function scriptedWatch() {
  const opened: OpenWatch[] = [];
  let failNext: unknown = null;
  const watch = {
    async watch(
      _path: string,
      query: Record<string, unknown>,
      callback: (phase: string, obj: unknown) => void,
      done: (err: unknown) => void,
    ): Promise<AbortController> {
      const controller = new AbortController();
      if (failNext !== null) {
        const err = failNext;
        failNext = null;
        done(err); // as client-node does for a connect error or a non-200, before returning
        return controller;
      }
      const w: OpenWatch = {
        version: String(query.resourceVersion),
        aborted: false,
        event: callback,
        end: done,
      };
      controller.signal.addEventListener('abort', () => {
        w.aborted = true;
      });
      opened.push(w);
      return controller;
    },
  };
  return {
    watch: watch as unknown as Watch,
    opened,
    failWith(err: unknown) {
      failNext = err;
    },
  };
}

const cm = (name: string, rv: string): KubernetesObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

function informer(w: Watch, list: ListPage, pageSize = 500) {
  const state = new Map<string, string>();
  const errors: unknown[] = [];
  const inf = new RecordInformer({
    path: '/api/v1/configmaps',
    watch: w,
    list,
    pageSize,
    handlers: {
      upsert: (o) => state.set(`${o.metadata!.namespace}/${o.metadata!.name}`, o.metadata!.resourceVersion!),
      remove: (k) => state.delete(k),
      listed: (keys) => {
        for (const k of [...state.keys()]) if (!keys.has(k)) state.delete(k);
      },
      error: (e) => errors.push(e),
    },
  });
  return { inf, state, errors };
}

const page = (items: KubernetesObject[], rv: string, cont?: string) =>
  ({
    items,
    metadata: { resourceVersion: rv, ...(cont ? { _continue: cont } : {}) },
  }) as KubernetesListObject<KubernetesObject>;

test('a paged list ends with the last page; the watch starts from its version', async () => {
  const w = scriptedWatch();
  const asked: (string | undefined)[] = [];
  const { inf, state } = informer(
    w.watch,
    async (p) => {
      asked.push(p.continue);
      return p.continue === undefined ? page([cm('a', '5')], '', 't1') : page([cm('b', '6')], '9');
    },
    1,
  );
  expect(await inf.start()).toBe(true);
  expect(asked).toEqual([undefined, 't1']);
  expect([...state.keys()].sort()).toEqual(['ns/a', 'ns/b']);
  expect(w.opened.map((o) => o.version)).toEqual(['9']);
  inf.stop();
});

test('start() reports a watch that failed to open, and the failure goes to error', async () => {
  const w = scriptedWatch();
  const { inf, errors } = informer(w.watch, async () => page([], '3'));
  w.failWith(Object.assign(new Error('Service Unavailable'), { statusCode: 503 }));
  expect(await inf.start()).toBe(false);
  expect(errors).toHaveLength(1);
  expect(await inf.start()).toBe(true);
  inf.stop();
});

test('a reconnect scheduled before stop() and start() does not touch the new watch', async () => {
  const w = scriptedWatch();
  const { inf, errors } = informer(w.watch, async () => page([cm('a', '1')], '1'));
  expect(await inf.start()).toBe(true);
  // The server closes the watch without having sent anything: a reconnect is scheduled after 1 s.
  w.opened[0]!.end(null);
  inf.stop();
  expect(await inf.start()).toBe(true);
  const live = w.opened.at(-1)!;
  await new Promise((r) => setTimeout(r, 1300));
  expect(live.aborted).toBe(false);
  expect(w.opened.at(-1)).toBe(live);
  expect(errors).toEqual([]);
  inf.stop();
  expect(live.aborted).toBe(true);
});

test('410 from a list page (an expired continue token) lists again from the first page, at once', async () => {
  const w = scriptedWatch();
  let calls = 0;
  const { inf, state, errors } = informer(
    w.watch,
    async (p) => {
      calls++;
      if (calls === 2) throw Object.assign(new Error('Gone'), { statusCode: 410 });
      return p.continue === undefined ? page([cm('a', '1')], '', 't') : page([cm('b', '2')], '7');
    },
    1,
  );
  await inf.start();
  await new Promise((r) => setTimeout(r, 50));
  expect(calls).toBe(4);
  expect(errors).toEqual([]);
  expect([...state.keys()].sort()).toEqual(['ns/a', 'ns/b']);
  expect(w.opened.at(-1)!.version).toBe('7');
  inf.stop();
});

test('a watch event for a stale generation is ignored; ERROR 410 relists', async () => {
  const w = scriptedWatch();
  let lists = 0;
  const { inf, state } = informer(w.watch, async () => {
    lists++;
    return lists === 1 ? page([cm('a', '1'), cm('gone', '1')], '1') : page([cm('a', '2')], '2');
  });
  await inf.start();
  const first = w.opened[0]!;
  first.event('ERROR', { code: 410 });
  first.end(null);
  await new Promise((r) => setTimeout(r, 50));
  expect(lists).toBe(2);
  expect([...state.entries()]).toEqual([['ns/a', '2']]);
  // The first watch is over: what it still delivers is not applied.
  first.event('ADDED', cm('late', '9'));
  expect(state.has('ns/late')).toBe(false);
  inf.stop();
});
