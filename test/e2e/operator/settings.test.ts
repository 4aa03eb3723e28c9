// Settings of the operator's entrypoint that change what it serves, against the real apiserver, as the operator
// process starts in a cluster (operator/src/main.ts; refusals of bad values are in
// test/integration/operator/main-settings.test.ts).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CONFIG_TICKETS_PATH } from '../../../crds/control-plane/types.ts';
import { splitPemCertificates } from '../../../operator/src/identity/index.ts';
import { createTestNamespace, deleteNamespace, getJson, waitFor } from '../kube.ts';
import { request, startOperator } from './harness.ts';

let ns = '';

beforeAll(async () => {
  ns = await createTestNamespace('settings');
});
afterAll(async () => {
  if (ns !== '') await deleteNamespace(ns);
});

test('WEFT_CONFIG_STREAM_PORT=off: no sealed port, ticket requests answered 404, the operator otherwise serves', async () => {
  const op = await startOperator(ns, { WEFT_CONFIG_STREAM_PORT: 'off' });
  try {
    // 'operator started' names the port as null, not 0 (which would mean "any free port").
    expect(op.configStreamPort).toBeNull();
    expect(op.logs.join('\n')).toContain('WEFT_CONFIG_STREAM_PORT is off');
    await waitFor('the operator to be ready', 60_000, async () => {
      const r = await fetch(`http://127.0.0.1:${op.adminPort}/readyz`).catch(() => null);
      return r?.status === 200;
    });
    const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
    const ticket = await request(op.controlPlanePort, {
      method: 'POST',
      path: `${CONFIG_TICKETS_PATH}?pod=${ns}/p0&accept=patch`,
      ca: splitPemCertificates(cm.data['ca.pem']!),
    });
    expect(ticket.status).toBe(404);
    expect(JSON.parse(ticket.body)).toMatchObject({
      reason: 'SealedStreamOff',
      message: expect.stringContaining('serves no sealed config stream'),
    });
  } finally {
    await op.stop();
  }
}, 120_000);
