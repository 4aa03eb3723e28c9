// What the compiler found wrong or worth telling: becomes status conditions, Events and log lines.

export type DiagnosticReason =
  | 'InvalidAnnotation'
  | 'RootServiceNotFound'
  | 'RootNotProgrammable'
  | 'BackendNotFound'
  | 'BackendPortMismatch'
  | 'ConflictingSplit'
  | 'RouteGroupNotFound'
  | 'UnsupportedRouteKind'
  | 'InvalidMatch'
  | 'RuleReferencesNothing'
  | 'InvalidDestination'
  | 'DestinationNotMeshed'
  | 'UnsupportedSubject'
  | 'ServiceAccountNotFound'
  | 'InvalidProxyConfig'
  | 'EndpointsTruncated'
  | 'TooManyRules'
  | 'TooManyRoutes'
  | 'TooManyMatches';

export interface Diagnostic {
  /** Kind of the object concerned: TrafficSplit, TrafficTarget, Pod, Namespace, Service... */
  kind: string;
  namespace: string;
  name: string;
  reason: DiagnosticReason;
  message: string;
}
