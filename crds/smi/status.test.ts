import { describe, expect, test } from '@jest/globals';
import { buildStatus, CONDITION, pendingStatus, REASON, smiHealth } from './status.ts';
import type { SmiStatus } from './types/meta.ts';

const t1 = new Date('2026-01-01T00:00:00.123Z');
const t2 = new Date('2026-01-01T00:05:00Z');
const ok = (reason: (typeof REASON)[keyof typeof REASON], message = 'ok') => ({
  status: 'True' as const,
  reason,
  message,
});

describe('buildStatus', () => {
  test('programmed: three conditions with observedGeneration, no Reconciling or Stalled', () => {
    const s = buildStatus({
      generation: 3,
      accepted: ok(REASON.Accepted),
      resolvedRefs: ok(REASON.ResolvedRefs),
      ready: ok(REASON.Programmed),
      now: t1,
    });
    expect(s.observedGeneration).toBe(3);
    expect(s.conditions!.map((c) => [c.type, c.status, c.observedGeneration, c.lastTransitionTime])).toEqual([
      ['Accepted', 'True', 3, '2026-01-01T00:00:00Z'],
      ['ResolvedRefs', 'True', 3, '2026-01-01T00:00:00Z'],
      ['Ready', 'True', 3, '2026-01-01T00:00:00Z'],
    ]);
  });

  test('first look: Unknown everywhere and Reconciling, so kstatus says in progress', () => {
    const s = pendingStatus(1, t1);
    expect(s.conditions!.map((c) => [c.type, c.status])).toEqual([
      ['Accepted', 'Unknown'],
      ['ResolvedRefs', 'Unknown'],
      ['Ready', 'Unknown'],
      ['Reconciling', 'True'],
    ]);
  });

  test('not accepted: Ready False NotAccepted and Stalled True', () => {
    const s = buildStatus({
      generation: 2,
      accepted: {
        status: 'False',
        reason: REASON.Conflict,
        message: 'root service web is split by shop/older',
      },
      resolvedRefs: ok(REASON.ResolvedRefs),
      ready: ok(REASON.Programmed),
      now: t1,
    });
    const ready = s.conditions!.find((c) => c.type === CONDITION.Ready)!;
    expect([ready.status, ready.reason]).toEqual(['False', 'NotAccepted']);
    expect(s.conditions!.find((c) => c.type === CONDITION.Stalled)).toMatchObject({
      status: 'True',
      reason: 'Conflict',
    });
  });

  test('lastTransitionTime moves only when the status changes', () => {
    const first = pendingStatus(1, t1);
    const second: SmiStatus = buildStatus({
      generation: 1,
      accepted: ok(REASON.Accepted),
      resolvedRefs: { status: 'Unknown', reason: REASON.Pending, message: '' },
      ready: ok(REASON.Programmed),
      previous: first,
      now: t2,
    });
    const byType = Object.fromEntries(second.conditions!.map((c) => [c.type, c.lastTransitionTime]));
    expect(byType).toEqual({
      Accepted: '2026-01-01T00:05:00Z',
      ResolvedRefs: '2026-01-01T00:00:00Z',
      Ready: '2026-01-01T00:05:00Z',
    });
  });
});

// The decision table of the Argo CD health check (crds/argocd/health.lua implements the same rows).
describe('smiHealth decision table', () => {
  const withStatus = (generation: number, status: SmiStatus | undefined) => ({
    metadata: { generation },
    ...(status ? { status } : {}),
  });
  const programmed = buildStatus({
    generation: 2,
    accepted: ok(REASON.Accepted),
    resolvedRefs: ok(REASON.ResolvedRefs),
    ready: ok(REASON.Programmed, 'programmed into 4 proxies'),
    now: t1,
  });
  test.each([
    ['no status yet', withStatus(1, undefined), 'Progressing', 'Waiting for the Weft operator'],
    [
      'status of an older generation',
      withStatus(3, programmed),
      'Progressing',
      'Waiting for the Weft operator to observe generation 3',
    ],
    ['pending', withStatus(1, pendingStatus(1, t1)), 'Progressing', 'Pending: waiting for the Weft operator'],
    ['programmed', withStatus(2, programmed), 'Healthy', 'programmed into 4 proxies'],
    [
      'programmed with a missing backend',
      withStatus(
        2,
        buildStatus({
          generation: 2,
          accepted: ok(REASON.Accepted),
          resolvedRefs: { status: 'False', reason: REASON.ServiceNotFound, message: 'web-canary' },
          ready: ok(REASON.Programmed),
          now: t1,
        }),
      ),
      'Healthy',
      'Programmed; ServiceNotFound: web-canary',
    ],
    [
      'conflict',
      withStatus(
        2,
        buildStatus({
          generation: 2,
          accepted: { status: 'False', reason: REASON.Conflict, message: 'web is split by shop/a' },
          resolvedRefs: ok(REASON.ResolvedRefs),
          ready: ok(REASON.Programmed),
          now: t1,
        }),
      ),
      'Degraded',
      'Conflict: web is split by shop/a',
    ],
    [
      'proxies lagging',
      withStatus(
        2,
        buildStatus({
          generation: 2,
          accepted: ok(REASON.Accepted),
          resolvedRefs: ok(REASON.ResolvedRefs),
          ready: { status: 'False', reason: REASON.ProxiesNotUpdated, message: '1 of 4 proxies' },
          now: t1,
        }),
      ),
      'Progressing',
      'ProxiesNotUpdated: 1 of 4 proxies',
    ],
  ])('%s', (_name, object, status, message) => {
    expect(smiHealth(object)).toEqual({ status, message });
  });
});
