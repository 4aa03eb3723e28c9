// Renders the install manifests (a kustomize base) from one description, so RBAC, ports, names and
// the mesh config that the injector reads cannot drift apart. `make manifests` writes deploy/base/.
import { OPERATOR_ENV, OPERATOR_NODE_FLAGS } from '../operator/src/node-flags.ts';
import type { MeshConfig } from '../webhooks/src/injection/mesh-config.ts';
import { DEFAULT_MESH_CONFIG } from '../webhooks/src/injection/mesh-config.ts';

export interface InstallOptions {
  namespace: string;
  controllerImage: string;
  proxyImage: string;
  imagePullPolicy: MeshConfig['imagePullPolicy'];
  /** Webhook failurePolicy for injection: Ignore keeps pods schedulable when Weft is down (unmeshed). */
  injectionFailurePolicy: 'Ignore' | 'Fail';
  replicas: number;
  trustDomain: string;
}

export const DEFAULT_INSTALL: InstallOptions = {
  namespace: 'weft-system',
  controllerImage: 'weft.local/controller:dev',
  proxyImage: 'weft.local/proxy:dev',
  imagePullPolicy: 'IfNotPresent',
  injectionFailurePolicy: 'Ignore',
  replicas: 2,
  trustDomain: 'cluster.local',
};

export const NAMES = {
  operator: 'weft-operator',
  webhooks: 'weft-webhooks',
  meshConfig: 'weft-mesh-config',
  trustAnchors: 'weft-trust-anchors',
  injector: 'weft-injector',
  validator: 'weft-smi-validator',
  /** The webhooks' serving CA (webhooks/src/config.ts default). */
  webhooksCa: 'weft-webhooks-ca',
} as const;

export const PORTS = {
  controlPlane: 15012,
  configStream: 15013,
  webhooks: 9443,
  operatorAdmin: 15014,
  webhooksAdmin: 9991,
} as const;

const SMI_GROUPS = ['split.smi-spec.io', 'access.smi-spec.io', 'specs.smi-spec.io'];
const SMI_RESOURCES = ['trafficsplits', 'traffictargets', 'httproutegroups', 'tcproutes', 'udproutes'];
const CONTROL_PLANE_LABEL = 'weft.dev/control-plane';

type Manifest = Record<string, unknown>;

export function meshConfigFor(o: InstallOptions): MeshConfig {
  return {
    ...DEFAULT_MESH_CONFIG,
    proxyImage: o.proxyImage,
    proxyInitImage: o.proxyImage,
    imagePullPolicy: o.imagePullPolicy,
    meshNamespace: o.namespace,
    controlPlaneAddress: `${NAMES.operator}.${o.namespace}.svc:${PORTS.controlPlane}`,
    trustDomain: o.trustDomain,
    controlPlaneIdentity: `spiffe://${o.trustDomain}/ns/${o.namespace}/sa/${NAMES.operator}`,
  };
}

function labels(component: string) {
  return {
    'app.kubernetes.io/name': 'weft',
    'app.kubernetes.io/component': component,
    [CONTROL_PLANE_LABEL]: component,
  };
}

function restrictedContainerSecurity() {
  return {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function deployment(
  o: InstallOptions,
  name: string,
  args: string[],
  ports: { name: string; port: number }[],
  /** Where /readyz and /healthz are served: a separate HTTP admin port, or the HTTPS serving port. */
  health: { port: number; scheme: 'HTTP' | 'HTTPS' },
  env: Manifest[] = [],
): Manifest {
  const probe = (path: string) => ({ httpGet: { path, port: health.port, scheme: health.scheme } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: o.namespace, labels: labels(name) },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { [CONTROL_PLANE_LABEL]: name } },
      template: {
        metadata: { labels: labels(name) },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: true,
          // Spread replicas so one node's loss keeps the mesh's control plane and webhooks up.
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: { [CONTROL_PLANE_LABEL]: name } },
            },
          ],
          containers: [
            {
              name,
              image: o.controllerImage,
              imagePullPolicy: o.imagePullPolicy,
              args,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ...env,
              ],
              ports: [
                ...ports.map((p) => ({ name: p.name, containerPort: p.port })),
                ...(ports.some((p) => p.port === health.port)
                  ? []
                  : [{ name: 'admin', containerPort: health.port }]),
              ],
              readinessProbe: { ...probe('/readyz'), periodSeconds: 5 },
              livenessProbe: { ...probe('/healthz'), periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
              securityContext: restrictedContainerSecurity(),
              volumeMounts: [
                { name: 'mesh-config', mountPath: '/etc/weft/mesh', readOnly: true },
                { name: 'trust-anchors', mountPath: '/etc/weft/trust', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'mesh-config', configMap: { name: NAMES.meshConfig } },
            // Written by the operator once it has made (or loaded) the trust anchor.
            { name: 'trust-anchors', configMap: { name: NAMES.trustAnchors, optional: true } },
          ],
        },
      },
    },
  };
}

function service(
  o: InstallOptions,
  name: string,
  ports: { name: string; port: number; targetPort: number }[],
): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace, labels: labels(name) },
    spec: { selector: { [CONTROL_PLANE_LABEL]: name }, ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) },
  };
}

function pdb(o: InstallOptions, name: string): Manifest {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: o.namespace },
    spec: { minAvailable: 1, selector: { matchLabels: { [CONTROL_PLANE_LABEL]: name } } },
  };
}

function serviceAccount(o: InstallOptions, name: string): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: o.namespace, labels: labels(name) },
  };
}

function clusterRole(name: string, rules: Manifest[]): Manifest {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules };
}

function binding(kind: 'ClusterRoleBinding' | 'RoleBinding', o: InstallOptions, name: string): Manifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: kind === 'RoleBinding' ? { name, namespace: o.namespace } : { name },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
      name,
    },
    subjects: [{ kind: 'ServiceAccount', name, namespace: o.namespace }],
  };
}

function role(o: InstallOptions, name: string, rules: Manifest[]): Manifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace: o.namespace },
    rules,
  };
}

const read = ['get', 'list', 'watch'];

/** Every object of the base, in apply order. CRDs come from crds/manifests and are listed separately. */
export function renderInstall(o: InstallOptions = DEFAULT_INSTALL): Manifest[] {
  const mesh = meshConfigFor(o);
  const webhookService = (path: string) => ({
    service: { name: NAMES.webhooks, namespace: o.namespace, path, port: 443 },
  });
  const excludeSystem = {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', o.namespace] },
    ],
  };
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: o.namespace,
        labels: { 'app.kubernetes.io/name': 'weft' },
        annotations: { 'weft.dev/inject': 'disabled' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: NAMES.meshConfig, namespace: o.namespace },
      data: { 'mesh.json': `${JSON.stringify(mesh, null, 2)}\n` },
    },
    serviceAccount(o, NAMES.operator),
    serviceAccount(o, NAMES.webhooks),
    clusterRole(NAMES.operator, [
      { apiGroups: [''], resources: ['services', 'pods', 'serviceaccounts', 'namespaces'], verbs: read },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
      { apiGroups: SMI_GROUPS, resources: SMI_RESOURCES, verbs: read },
      // Status only: the operator never writes spec.
      {
        apiGroups: SMI_GROUPS,
        resources: SMI_RESOURCES.map((r) => `${r}/status`),
        verbs: ['get', 'update', 'patch'],
      },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    ]),
    binding('ClusterRoleBinding', o, NAMES.operator),
    role(o, NAMES.operator, [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'list', 'watch', 'create', 'update'],
      },
      // Trust anchor and issuer (Secrets); the public trust anchors for proxies and webhooks (ConfigMap).
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
      },
    ]),
    binding('RoleBinding', o, NAMES.operator),
    clusterRole(NAMES.webhooks, [
      { apiGroups: [''], resources: ['namespaces'], verbs: read },
      { apiGroups: SMI_GROUPS, resources: SMI_RESOURCES, verbs: read },
      { apiGroups: [''], resources: ['services', 'serviceaccounts'], verbs: read },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      // caBundle upkeep, limited to Weft's own objects.
      {
        apiGroups: ['apiextensions.k8s.io'],
        resources: ['customresourcedefinitions'],
        verbs: ['get', 'list', 'watch', 'patch', 'update'],
      },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
        resourceNames: [NAMES.injector, NAMES.validator],
        verbs: ['get', 'patch', 'update'],
      },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
        verbs: ['list', 'watch'],
      },
    ]),
    binding('ClusterRoleBinding', o, NAMES.webhooks),
    role(o, NAMES.webhooks, [
      // Only their own CA Secret: the operator's (weft-identity) holds the mesh issuer and, when generated, the
      // trust anchor's key. Create cannot be limited by name (the object has none yet when it is authorized).
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [NAMES.webhooksCa],
        verbs: ['get', 'update'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'list', 'watch', 'create', 'update'],
      },
    ]),
    binding('RoleBinding', o, NAMES.webhooks),
    service(o, NAMES.operator, [
      { name: 'control-plane', port: PORTS.controlPlane, targetPort: PORTS.controlPlane },
      // The sealed config stream: proxies open it to the pod IP their ticket names (each replica keeps the
      // tickets it issued); listed so that the port has a name.
      { name: 'config-stream', port: PORTS.configStream, targetPort: PORTS.configStream },
    ]),
    service(o, NAMES.webhooks, [{ name: 'https', port: 443, targetPort: PORTS.webhooks }]),
    deployment(
      o,
      NAMES.operator,
      [...OPERATOR_NODE_FLAGS, '/app/operator.mjs'],
      [
        { name: 'control-plane', port: PORTS.controlPlane },
        { name: 'config-stream', port: PORTS.configStream },
      ],
      { port: PORTS.operatorAdmin, scheme: 'HTTP' },
      [
        // Named in config-stream tickets (operator/src/main.ts).
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        // glibc's, read at start (operator/src/node-flags.ts).
        ...Object.entries(OPERATOR_ENV).map(([name, value]) => ({ name, value })),
      ],
    ),
    deployment(
      o,
      NAMES.webhooks,
      ['/app/webhooks.mjs'],
      [{ name: 'https', port: PORTS.webhooks }],
      { port: PORTS.webhooks, scheme: 'HTTPS' },
      [
        { name: 'WEFT_WEBHOOK_MESH_CONFIG', value: '/etc/weft/mesh/mesh.json' },
        { name: 'WEFT_WEBHOOK_TRUST_ANCHORS', value: '/etc/weft/trust/ca.pem' },
      ],
    ),
    pdb(o, NAMES.operator),
    pdb(o, NAMES.webhooks),
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: NAMES.injector, labels: labels(NAMES.webhooks) },
      webhooks: [
        {
          name: 'inject.weft.dev',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: o.injectionFailurePolicy,
          // Another mutating webhook may add containers after us; we run again and skip if injected.
          reinvocationPolicy: 'IfNeeded',
          timeoutSeconds: 10,
          clientConfig: webhookService('/inject'),
          namespaceSelector: excludeSystem,
          objectSelector: { matchExpressions: [{ key: CONTROL_PLANE_LABEL, operator: 'DoesNotExist' }] },
          rules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['CREATE'],
              resources: ['pods'],
              scope: 'Namespaced',
            },
          ],
        },
      ],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: NAMES.validator, labels: labels(NAMES.webhooks) },
      webhooks: [
        {
          name: 'validate.smi.weft.dev',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 10,
          clientConfig: webhookService('/validate'),
          rules: [
            {
              apiGroups: SMI_GROUPS,
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: SMI_RESOURCES,
              scope: 'Namespaced',
            },
          ],
        },
      ],
    },
  ];
}
