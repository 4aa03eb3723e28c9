// Two operator replicas on one Lease: one leads; SIGKILL it (no release) and the other takes over within the
// lease duration, then writes status for a change made after the failover. Both replicas serve reads. Status
// writes carry the resourceVersion they were read at, so a stale writer is refused.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { SmiStatusClient } from '../../../operator/src/kube/api.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../kube.ts';
import { metric, type RunningOperator, startOperator } from './harness.ts';

const LEASE_SECONDS = 4;
let ns = '';
const replicas: RunningOperator[] = [];

beforeAll(async () => {
  ns = await createTestNamespace('operator-leader');
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.stop();
  if (ns !== '') await deleteNamespace(ns);
}, 60_000);

test('the follower takes over within the lease duration after the leader is killed', async () => {
  // Lasting problems are reported again every 4 s, so the Event series can be followed across the failover.
  const env = { WEFT_LEASE_DURATION_SECONDS: String(LEASE_SECONDS), WEFT_EVENT_REPEAT_SECONDS: '4' };
  const a = await startOperator(ns, env);
  replicas.push(a);
  await waitFor(
    'replica a leads',
    20_000,
    async () => (await metric(a.adminPort, 'weft_operator_leader')) === 1,
  );
  const b = await startOperator(ns, env);
  replicas.push(b);
  await waitFor(
    'replica b ready',
    20_000,
    async () => (await fetch(`http://127.0.0.1:${b.adminPort}/readyz`)).ok,
  );
  expect(await metric(b.adminPort, 'weft_operator_leader')).toBe(0);

  // A problem that lasts across the failover: replica a starts its Event series.
  await kubectl(
    ['apply', '-f', '-'],
    `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: lasting, namespace: ${ns}}
spec: {service: nowhere, backends: [{service: nowhere-v1, weight: 1}]}
`,
  );
  type Event = {
    metadata: { name: string };
    reason: string;
    count?: number;
    involvedObject: { name: string };
  };
  const lastingEvents = async () =>
    (await getJson<{ items: Event[] }>(['-n', ns, 'events'])).items.filter(
      (e) => e.reason === 'RootServiceNotFound' && e.involvedObject.name === 'lasting',
    );
  const before = await waitFor('replica a reports the lasting problem', 20_000, async () => {
    const evs = await lastingEvents();
    return evs.length === 1 ? evs[0] : undefined;
  });

  await a.kill();
  const killedAt = Date.now();
  await waitFor(
    'replica b leads',
    3 * LEASE_SECONDS * 1000,
    async () => (await metric(b.adminPort, 'weft_operator_leader')) === 1,
  );
  const takeoverMs = Date.now() - killedAt;
  process.stdout.write(`leader failover: ${takeoverMs} ms (lease ${LEASE_SECONDS} s, follower retry 2 s)\n`);
  // The lease must have expired first (never two leaders). The follower counts the lease duration from when it
  // first read the last renewal (its own clock, immune to skew between nodes), which is up to one retry
  // interval after it was written; a second retry interval bounds when it next tries.
  expect(takeoverMs).toBeLessThanOrEqual(LEASE_SECONDS * 1000 + 2 * 2_000 + 500);
  const lease = await getJson<{ spec: { holderIdentity: string; leaseTransitions: number } }>([
    '-n',
    ns,
    'lease',
    'weft-operator-leader',
  ]);
  expect(lease.spec.leaseTransitions).toBe(1);

  // Replica b continues replica a's series: the same Event, its count going on, and no second Event.
  const continued = await waitFor('replica b reports the lasting problem again', 20_000, async () => {
    const evs = await lastingEvents();
    return evs.length === 1 && (evs[0]!.count ?? 0) > (before.count ?? 0) + 1 ? evs : undefined;
  });
  expect(continued.map((e) => e.metadata.name)).toEqual([before.metadata.name]);

  // The new leader writes status for an object created after the failover.
  await kubectl(
    ['apply', '-f', '-'],
    `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: orphan, namespace: ${ns}}
spec:
  service: nowhere
  backends: [{service: nowhere-v1, weight: 1}]
`,
  );
  const ready = await waitFor('status from the new leader', 20_000, async () => {
    const o = await getJson<{ status?: { conditions?: { type: string; status: string; reason: string }[] } }>(
      ['-n', ns, 'trafficsplits.v1alpha4.split.smi-spec.io', 'orphan'],
    );
    return o.status?.conditions?.find((c) => c.type === 'Ready');
  });
  expect(ready).toMatchObject({ status: 'False', reason: 'RootServiceNotFound' });
}, 90_000);

test('a status write from a stale read is refused (409), so a replica that lost the lease cannot overwrite the new leader', async () => {
  await kubectl(
    ['apply', '-f', '-'],
    `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: stale, namespace: ${ns}}
spec: {service: nowhere, backends: [{service: nowhere-v1, weight: 1}]}
`,
  );
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const client = new SmiStatusClient(kc);
  const read = (await client.getStatus('TrafficSplit', ns, 'stale'))!;
  // The new leader writes (any change moves resourceVersion on).
  await kubectl(['-n', ns, 'annotate', 'trafficsplits.v1alpha4.split.smi-spec.io', 'stale', 'moved=1']);
  const stale = { observedGeneration: read.generation, conditions: [] };
  await expect(
    client.patchStatus('TrafficSplit', ns, 'stale', stale, read.resourceVersion),
  ).rejects.toMatchObject({
    code: 409,
  });
  const fresh = (await client.getStatus('TrafficSplit', ns, 'stale'))!;
  await client.patchStatus('TrafficSplit', ns, 'stale', stale, fresh.resourceVersion);
}, 60_000);
