import { expect, test } from '@jest/globals';
import { webhookPatch } from './ca-bundle-publisher.ts';

test('the JSON patch sets caBundle only where it differs, each guarded by the webhook name', () => {
  const webhooks = [
    { name: 'a.weft.dev', clientConfig: { caBundle: 'new' } },
    { name: 'b.weft.dev', clientConfig: {} },
    { name: 'c.weft.dev', clientConfig: { caBundle: 'old' } },
  ];
  expect(webhookPatch(webhooks, 'new')).toEqual([
    { op: 'test', path: '/webhooks/1/name', value: 'b.weft.dev' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: 'new' },
    { op: 'test', path: '/webhooks/2/name', value: 'c.weft.dev' },
    { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: 'new' },
  ]);
  expect(webhookPatch(webhooks.slice(0, 1), 'new')).toEqual([]);
});
