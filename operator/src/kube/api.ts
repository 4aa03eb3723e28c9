// Thin shells over the apiserver calls the operator makes: TokenReview, the leader Lease, SMI status writes and
// Events. No logic beyond mapping shapes; decisions live in pure modules.
import { createHash } from 'node:crypto';
import {
  ApiException,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
} from '@kubernetes/client-node';
import type { Condition } from '../../../crds/smi/index.ts';
import type { SmiKind } from '../compiler/status.ts';
import type { LeaseState, LeaseStore } from '../runtime/leader.ts';

export interface TokenReviewResult {
  authenticated: boolean;
  username: string;
  audiences: string[];
  extra: Record<string, string[]>;
  error: string | null;
}

/** Asks the apiserver to authenticate a token for the given audiences. Throws when the call itself fails. */
export async function reviewToken(
  kc: KubeConfig,
  token: string,
  audiences: string[],
): Promise<TokenReviewResult> {
  const api = kc.makeApiClient(AuthenticationV1Api);
  const r = await api.createTokenReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
  });
  const st = r.status ?? {};
  return {
    authenticated: st.authenticated === true,
    username: st.user?.username ?? '',
    audiences: st.audiences ?? [],
    extra: (st.user?.extra ?? {}) as Record<string, string[]>,
    error: st.error ?? null,
  };
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** 409: a write that lost an optimistic-concurrency race (Conflict), or a create of what exists (AlreadyExists). */
export function lostWriteRace(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

function isConflict(err: unknown): boolean {
  return lostWriteRace(err) || (err instanceof ApiException && err.code === 422);
}

/** The leader Lease in coordination.k8s.io/v1. */
export class KubeLeaseStore implements LeaseStore {
  readonly #api: CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.#namespace = namespace;
    this.#name = name;
  }

  async get(): Promise<LeaseState | null> {
    try {
      const l = await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#namespace });
      const s = l.spec ?? {};
      const time = (v: unknown) =>
        v instanceof Date ? v.toISOString() : v === undefined || v === null ? null : String(v);
      return {
        holderIdentity: s.holderIdentity ?? null,
        leaseDurationSeconds: s.leaseDurationSeconds ?? 15,
        renewTime: time(s.renewTime),
        acquireTime: time(s.acquireTime),
        leaseTransitions: s.leaseTransitions ?? 0,
        resourceVersion: l.metadata?.resourceVersion ?? null,
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async write(next: LeaseState): Promise<boolean> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.#name,
        namespace: this.#namespace,
        ...(next.resourceVersion === null ? {} : { resourceVersion: next.resourceVersion }),
      },
      spec: {
        ...(next.holderIdentity === null ? {} : { holderIdentity: next.holderIdentity }),
        leaseDurationSeconds: next.leaseDurationSeconds,
        leaseTransitions: next.leaseTransitions,
        // MicroTime strings pass through the serializer unchanged; Date would lose the microsecond layout.
        ...(next.renewTime === null ? {} : { renewTime: next.renewTime as unknown as Date }),
        ...(next.acquireTime === null ? {} : { acquireTime: next.acquireTime as unknown as Date }),
      },
    };
    try {
      if (next.resourceVersion === null) {
        await this.#api.createNamespacedLease({ namespace: this.#namespace, body });
      } else {
        await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#namespace, body });
      }
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}

const PLURALS: Record<SmiKind, [group: string, version: string, plural: string]> = {
  TrafficSplit: ['split.smi-spec.io', 'v1alpha4', 'trafficsplits'],
  TrafficTarget: ['access.smi-spec.io', 'v1alpha3', 'traffictargets'],
  HTTPRouteGroup: ['specs.smi-spec.io', 'v1alpha4', 'httproutegroups'],
  TCPRoute: ['specs.smi-spec.io', 'v1alpha4', 'tcproutes'],
  UDPRoute: ['specs.smi-spec.io', 'v1alpha4', 'udproutes'],
};

/** Reads and writes SMI status through the status subresource only (never spec). */
export class SmiStatusClient {
  readonly #api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(CustomObjectsApi);
  }

  async getStatus(
    kind: SmiKind,
    namespace: string,
    name: string,
  ): Promise<{ generation: number; resourceVersion: string; conditions: Condition[] | undefined } | null> {
    const [group, version, plural] = PLURALS[kind];
    try {
      const o = (await this.#api.getNamespacedCustomObjectStatus({
        group,
        version,
        plural,
        namespace,
        name,
      })) as {
        metadata?: { generation?: number; resourceVersion?: string };
        status?: { conditions?: Condition[] };
      };
      return {
        generation: o.metadata?.generation ?? 0,
        resourceVersion: o.metadata?.resourceVersion ?? '',
        conditions: o.status?.conditions,
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * JSON merge patch of status: replaces the conditions list and observedGeneration. With a resourceVersion
   * (the one the status was read at) the apiserver refuses it (409) if the object changed since: a replica
   * that lost the lease meanwhile cannot overwrite what the new leader wrote.
   */
  async patchStatus(
    kind: SmiKind,
    namespace: string,
    name: string,
    status: { observedGeneration: number; conditions: Condition[] },
    resourceVersion = '',
  ): Promise<void> {
    const [group, version, plural] = PLURALS[kind];
    const body = resourceVersion === '' ? { status } : { metadata: { resourceVersion }, status };
    await this.#api.patchNamespacedCustomObjectStatus(
      { group, version, plural, namespace, name, body, fieldManager: 'weft-operator' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

/**
 * Which problems were reported, by key (object, reason and problem), and when. The same problem is reported
 * again at most once per `periodMs`: the status writer goes over objects far more often than that. A problem
 * that lasts is reported again in the Event object of its series (count + 1, as client-go's recorder does, which
 * `kubectl describe` shows as "x3 over 2h"); every update renews the Event's time to live in the apiserver (1 h
 * by default), so a lasting problem does not lose its Event. Entries not reported for two periods are dropped,
 * so objects that come and go leave nothing behind. Time comes from the caller.
 */
export class RecentEvents {
  readonly #periodMs: number;
  /** Key -> when it was last reported, and the count of its Event once written (0: none known). */
  readonly #sent = new Map<string, { at: number; count: number }>();
  #sweepAt = 1024;

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  /** How often a problem that lasts is reported again. */
  get periodMs(): number {
    return this.#periodMs;
  }

  /**
   * Whether to report this problem now: null when it was reported within the period; otherwise the count of the
   * series' Event to continue (0: none known). Records it as reported now.
   */
  due(key: string, nowMs: number): { count: number } | null {
    const e = this.#sent.get(key);
    if (e !== undefined && nowMs - e.at < this.#periodMs) return null;
    const count = e?.count ?? 0;
    this.#sent.set(key, { at: nowMs, count });
    if (this.#sent.size >= this.#sweepAt) {
      for (const [k, v] of this.#sent) if (nowMs - v.at >= 2 * this.#periodMs) this.#sent.delete(k);
      this.#sweepAt = Math.max(1024, this.#sent.size * 2);
    }
    return { count };
  }

  /** The count the report wrote to the series' Event. */
  wrote(key: string, count: number): void {
    const e = this.#sent.get(key);
    if (e !== undefined) this.#sent.set(key, { at: e.at, count });
  }

  /** A report whose write failed: due again at once, in the same series. */
  retry(key: string): void {
    const e = this.#sent.get(key);
    if (e !== undefined) this.#sent.set(key, { at: Number.NEGATIVE_INFINITY, count: e.count });
  }

  get size(): number {
    return this.#sent.size;
  }
}

/**
 * The name of the Event that holds a problem's series: fixed by its key, so that a replica that becomes leader
 * (or restarts) continues the series another one started instead of starting a second Event.
 */
export function eventName(objectName: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  // A DNS subdomain: at most 253 characters; the object's name already is one.
  return `${objectName.slice(0, 253 - 17)}.${hash}`;
}

export interface EventObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/**
 * The de-duplication key of a Warning Event. Two problems of one reason on one object (two bad annotations)
 * are two Events, each de-duplicated. With the uid: an object created again under its name is another object,
 * whose Events are its own.
 */
export function eventKey(obj: EventObject, reason: string, dedupKey: string): string {
  return `${obj.kind}/${obj.namespace}/${obj.name}/${obj.uid ?? ''}/${reason}/${dedupKey}`;
}

/** The component Events name as their source. */
const COMPONENT = 'weft-operator';

/** Warning Events (core/v1) about SMI and core objects, one series per object, reason and problem. */
export class EventRecorder {
  readonly #api: CoreV1Api;
  readonly #sent: RecentEvents;

  /** `periodMs`: how often a problem that lasts is reported again (RecentEvents). */
  constructor(kc: KubeConfig, periodMs: number) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#sent = new RecentEvents(periodMs);
  }

  /** `dedupKey` (default: the message) identifies the problem among the object's Events of this reason. */
  async warn(obj: EventObject, reason: string, message: string, dedupKey: string = message): Promise<void> {
    const k = eventKey(obj, reason, dedupKey);
    const now = new Date();
    const due = this.#sent.due(k, now.getTime());
    if (due === null) return;
    try {
      this.#sent.wrote(k, await this.#report(obj, k, reason, message.slice(0, 1024), due.count, now));
    } catch (err) {
      this.#sent.retry(k);
      throw err;
    }
  }

  /**
   * Writes the next report of a series whose Event has `count` reports (0: none known), and returns the Event's
   * count after it: count + 1 on its Event, or the Event itself when it does not exist (first report, expired,
   * deleted). On the first report by this replica, an Event another replica wrote within the period is taken over
   * as it is.
   */
  async #report(
    obj: EventObject,
    key: string,
    reason: string,
    message: string,
    count: number,
    now: Date,
  ): Promise<number> {
    const name = eventName(obj.name, key);
    // A cluster-scoped object's (a Namespace's) Events live in the default namespace, as kubectl looks for them.
    const namespace = obj.namespace || 'default';
    let adopt = count === 0;
    // Each step back (the Event created or deleted meanwhile by someone else) spends one of the three steps.
    for (let step = 0; step < 3; step++) {
      if (count === 0) {
        try {
          await this.#api.createNamespacedEvent({
            namespace,
            body: {
              metadata: { name, namespace },
              involvedObject: {
                apiVersion: obj.apiVersion,
                kind: obj.kind,
                ...(obj.namespace === '' ? {} : { namespace: obj.namespace }),
                name: obj.name,
                ...(obj.uid === undefined ? {} : { uid: obj.uid }),
              },
              type: 'Warning',
              reason,
              message,
              source: { component: COMPONENT },
              reportingComponent: COMPONENT,
              reportingInstance: COMPONENT,
              firstTimestamp: now,
              lastTimestamp: now,
              count: 1,
            },
          });
          return 1;
        } catch (err) {
          if (!lostWriteRace(err)) throw err;
        }
        // It exists: written by another replica, or by this one before a restart.
        const existing = await this.#api.readNamespacedEvent({ name, namespace });
        count = existing.count ?? 1;
        const last = existing.lastTimestamp === undefined ? 0 : new Date(existing.lastTimestamp).getTime();
        if (adopt && now.getTime() - last < this.#sent.periodMs) return count;
        adopt = false;
        continue;
      }
      try {
        await this.#api.patchNamespacedEvent(
          { name, namespace, body: { count: count + 1, lastTimestamp: now, message } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return count + 1;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      count = 0;
      adopt = false;
    }
    throw new Error(`Event ${namespace}/${name} kept changing while it was written`);
  }
}
