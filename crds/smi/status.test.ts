import { describe, expect, test } from '@jest/globals';
import { smiHealth } from './status.ts';
import type { Condition, SmiStatus } from './types/meta.ts';

// Statuses as the operator writes them (desiredStatuses and mergeConditions in operator/src/compiler/status.ts).
const cond = (type: string, status: Condition['status'], reason: string, message: string): Condition => ({
  type,
  status,
  observedGeneration: 2,
  lastTransitionTime: '2026-01-01T00:00:00Z',
  reason,
  message,
});
const accepted = cond('Accepted', 'True', 'Accepted', 'TrafficSplit is valid and in effect');
const resolved = cond('ResolvedRefs', 'True', 'ResolvedRefs', 'every reference resolved');
/** Ready not True while Accepted is not False: Reconciling is present, its message `<Ready reason>: <message>`. */
const notReady = (reason: string, message: string): Condition[] => [
  cond('Ready', 'False', reason, message),
  cond('Reconciling', 'True', 'Progressing', `${reason}: ${message}`),
];
const smiStatus = (...conditions: Condition[]): SmiStatus => ({ observedGeneration: 2, conditions });

const missingBackend = 'spec.backends[1].service: Service shop/web-canary not found; backend dropped';
const conflict = 'spec.service: shop/web is already split by TrafficSplit a; this one is ignored';
const unmeshed =
  '1 of 3 running pods of ServiceAccount shop/web are not meshed (web-0): no proxy runs in front of them, so ' +
  'nothing enforces this TrafficTarget there. Set the annotation weft.dev/inject: enabled on their pod ' +
  'template or namespace (and not disabled on the pods), then re-create the pods (e.g. kubectl rollout ' +
  'restart): the proxy is injected only when a pod is created';
const tooManyMatches =
  'spec.rules: 1200 HTTP matches on port 8080; proxies take the first 1000 in rule order, requests matching ' +
  'only the others are denied';

// The decision table of the Argo CD health check (crds/argocd/health.lua implements the same rows).
describe('smiHealth decision table', () => {
  const withStatus = (generation: number, status: SmiStatus | undefined) => ({
    metadata: { generation },
    ...(status ? { status } : {}),
  });
  const programmed = smiStatus(
    accepted,
    resolved,
    cond('Ready', 'True', 'Programmed', 'programmed into the proxies'),
  );
  test.each([
    ['no status yet', withStatus(1, undefined), 'Progressing', 'Waiting for the Weft operator'],
    // Written by something else than the operator, or cut short: no observedGeneration, or no Ready.
    [
      'a status without observedGeneration',
      { metadata: { generation: 1 }, status: { conditions: [] } },
      'Progressing',
      'Waiting for the Weft operator',
    ],
    [
      'a status without Ready',
      withStatus(2, smiStatus(accepted)),
      'Progressing',
      'Waiting for the Weft operator',
    ],
    [
      'Ready Unknown',
      withStatus(
        2,
        smiStatus(accepted, resolved, cond('Ready', 'Unknown', 'Programming', 'being programmed')),
      ),
      'Progressing',
      'Programming: being programmed',
    ],
    [
      'status of an older generation',
      withStatus(3, programmed),
      'Progressing',
      'Waiting for the Weft operator to observe generation 3',
    ],
    ['programmed', withStatus(2, programmed), 'Healthy', 'programmed into the proxies'],
    [
      'programmed with a missing backend',
      withStatus(
        2,
        smiStatus(
          accepted,
          cond('ResolvedRefs', 'False', 'BackendNotFound', missingBackend),
          cond(
            'Ready',
            'True',
            'Programmed',
            'programmed into the proxies without the unresolved references',
          ),
        ),
      ),
      'Healthy',
      `Programmed; BackendNotFound: ${missingBackend}`,
    ],
    [
      'conflict',
      withStatus(
        2,
        smiStatus(
          cond('Accepted', 'False', 'ConflictingSplit', conflict),
          resolved,
          cond('Ready', 'False', 'NotAccepted', 'not accepted'),
          cond('Stalled', 'True', 'ConflictingSplit', conflict),
        ),
      ),
      'Degraded',
      `ConflictingSplit: ${conflict}`,
    ],
    [
      'destination not meshed',
      withStatus(
        2,
        smiStatus(
          { ...accepted, message: 'TrafficTarget is valid and in effect' },
          resolved,
          ...notReady('DestinationNotMeshed', unmeshed),
        ),
      ),
      'Progressing',
      `DestinationNotMeshed: ${unmeshed}`,
    ],
    [
      'partially programmed',
      withStatus(
        2,
        smiStatus(
          { ...accepted, message: 'TrafficTarget is valid and in effect' },
          resolved,
          ...notReady('PartiallyProgrammed', tooManyMatches),
        ),
      ),
      'Progressing',
      `PartiallyProgrammed: ${tooManyMatches}`,
    ],
  ])('%s', (_name, object, status, message) => {
    expect(smiHealth(object)).toEqual({ status, message });
  });
});
