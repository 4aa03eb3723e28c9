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
  | 'UDPNotEnforced'
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
  /**
   * What identifies the problem for the de-duplication of its Warning Event, where the message carries figures
   * that move while the problem lasts (counts, example pod names): one Event per problem, not one per figure.
   * The status condition still carries the current message. Default: the message.
   */
  eventKey?: string;
}
