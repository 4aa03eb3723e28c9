// Kubernetes Events for injection decisions, so `kubectl describe replicaset web-7c9d` (or `kubectl get
// events`) says why its pods did or did not get the proxy. A pod under admission has no name yet, so the
// Event goes on its controller (ReplicaSet, Job, StatefulSet, ...) or, for a bare pod, on its namespace.
// The common non-decision (namespace not enabled) records nothing.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { controllerOf, InjectReason, type Pod } from './inject.ts';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface InjectionEvent {
  /** The namespace the Event is written to. */
  namespace: string;
  involvedObject: InvolvedObject;
  type: 'Normal' | 'Warning';
  /** An InjectReason constant. */
  reason: string;
  message: string;
}

const SILENT: ReadonlySet<string> = new Set([InjectReason.NotEnabled, InjectReason.AlreadyInjected]);

/** What to record for a decision about a pod in `namespace`, or null for nothing. Pure. */
export function injectionEvent(
  pod: unknown,
  namespace: string,
  reason: string,
  message: string,
): InjectionEvent | null {
  if (SILENT.has(reason) || reason === 'BadRequest' || namespace === '') return null;
  const owner = controllerOf(pod as Pod | undefined);
  const involvedObject: InvolvedObject =
    owner?.kind && owner.name && owner.apiVersion
      ? {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          namespace,
          name: owner.name,
          ...(owner.uid ? { uid: owner.uid } : {}),
        }
      : { apiVersion: 'v1', kind: 'Namespace', namespace, name: namespace };
  return {
    namespace,
    involvedObject,
    type: reason === InjectReason.InvalidOverrides ? 'Warning' : 'Normal',
    reason,
    message: message.slice(0, 1024),
  };
}

/** Writes Events, at most one per object and reason per window (a scale-up of 100 pods makes one). */
export class InjectionEventRecorder {
  readonly #api: CoreV1Api;
  readonly #logger: Logger | undefined;
  readonly #windowMs: number;
  readonly #recent = new Map<string, number>();

  constructor(kc: KubeConfig, logger?: Logger, windowMs = 5 * 60_000) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#logger = logger;
    this.#windowMs = windowMs;
  }

  /** Fire and forget: admission never waits for an Event, and a failed write is only logged. */
  record(event: InjectionEvent | null, now = Date.now()): void {
    if (event === null) return;
    const o = event.involvedObject;
    const key = `${o.kind}/${o.namespace}/${o.name}/${event.reason}`;
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#windowMs) return;
    if (this.#recent.size >= 10_000) {
      for (const [k, at] of this.#recent) if (now - at >= this.#windowMs) this.#recent.delete(k);
      if (this.#recent.size >= 10_000) this.#recent.clear();
    }
    this.#recent.set(key, now);
    const at = new Date(now);
    this.#api
      .createNamespacedEvent({
        namespace: event.namespace,
        body: {
          metadata: { generateName: `${o.name}.`, namespace: event.namespace },
          involvedObject: o,
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: 'weft-injector' },
          reportingComponent: 'weft.dev/injector',
          reportingInstance: process.env.POD_NAME ?? 'weft-webhooks',
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      })
      .catch((error: unknown) =>
        this.#logger?.warn(
          { err: (error as Error).message, reason: event.reason },
          'could not record an Event',
        ),
      );
  }
}
