import { expect, test } from '@jest/globals';
import { injectionEvent } from './events.ts';
import { InjectReason } from './inject.ts';

const rsPod = {
  metadata: {
    generateName: 'web-7c9d-',
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9d', uid: 'u1', controller: true },
    ],
  },
};

test('an injected pod is reported on its controller', () => {
  expect(injectionEvent(rsPod, 'shop', InjectReason.Injected, 'weft-proxy injected')).toEqual({
    namespace: 'shop',
    involvedObject: {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      namespace: 'shop',
      name: 'web-7c9d',
      uid: 'u1',
    },
    type: 'Normal',
    reason: 'Injected',
    message: 'weft-proxy injected',
  });
});

test('a bare pod is reported on its namespace; invalid overrides are warnings', () => {
  const e = injectionEvent({ metadata: { name: 'p' } }, 'shop', InjectReason.InvalidOverrides, 'bad port');
  expect(e?.involvedObject).toEqual({ apiVersion: 'v1', kind: 'Namespace', namespace: 'shop', name: 'shop' });
  expect(e?.type).toBe('Warning');
  expect(injectionEvent(rsPod, 'shop', InjectReason.HostNetwork, 'host network')?.reason).toBe('HostNetwork');
});

test('no Event for the common cases: not enabled, re-invocation, malformed reviews', () => {
  expect(injectionEvent(rsPod, 'shop', InjectReason.NotEnabled, 'x')).toBeNull();
  expect(injectionEvent(rsPod, 'shop', InjectReason.AlreadyInjected, 'x')).toBeNull();
  expect(injectionEvent(undefined, 'shop', 'BadRequest', 'x')).toBeNull();
});
