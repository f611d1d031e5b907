/**
 * The one typed source for every declarative document of the admission
 * component: the TypeScript types are `Static<>` of these schemas, and
 * `gen-schema.ts` writes the same schemas to `scenarios/schemas/` for editors
 * (`# yaml-language-server: $schema=…`) and for ajv at load time.
 *
 * Field names and enums of SecurityPolicy and OperationPolicy follow the
 * Deckhouse admission-policy-engine CRDs (`deckhouse.io/v1alpha1`,
 * modules/015-admission-policy-engine/crds/{security,operation}-policy.yaml).
 * Every property carries a description and an example; a test walks the
 * generated schemas to keep it that way.
 */
import Type, { type Static, type TSchema } from 'typebox';

/** Description plus one example: every property gets both. */
function doc(description: string, example: unknown): { description: string; examples: unknown[] } {
  return { description, examples: [example] };
}

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const LabelMap = (what: string, example: Record<string, string>) =>
  Type.Record(Type.String(), Type.String(), doc(what, example));

// ---------------------------------------------------------------------------
// Selectors (metav1.LabelSelector and the Deckhouse namespace selector)

export const LabelSelectorRequirementSchema = Type.Object(
  {
    key: Type.String(doc('Label key the requirement applies to.', 'tier')),
    operator: Type.Enum(['In', 'NotIn', 'Exists', 'DoesNotExist'], doc('Relation between the key and the values.', 'In')),
    values: Type.Optional(
      Type.Array(Type.String(), doc('Values for In and NotIn; must be empty for Exists and DoesNotExist.', ['production', 'staging'])),
    ),
  },
  { additionalProperties: false, ...doc('One set-based label requirement.', { key: 'tier', operator: 'In', values: ['production'] }) },
);

export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(LabelMap('Labels that must all be present with exactly these values.', { foo: 'bar' })),
    matchExpressions: Type.Optional(
      Type.Array(LabelSelectorRequirementSchema, doc('Set-based requirements, all of which must hold.', [{ key: 'tier', operator: 'In', values: ['production'] }])),
    ),
  },
  { additionalProperties: false, ...doc('A Kubernetes label selector; an empty selector matches everything.', { matchLabels: { enforce: 'mypolicy' } }) },
);

export const NamespaceSelectorSchema = Type.Object(
  {
    matchNames: Type.Optional(Type.Array(Type.String(), doc('Only these namespaces (globs).', ['d8-*', 'kube-system']))),
    excludeNames: Type.Optional(Type.Array(Type.String(), doc('All namespaces except these (globs).', ['kube-*']))),
    labelSelector: Type.Optional(LabelSelectorSchema),
  },
  {
    additionalProperties: false,
    ...doc('Selects namespaces by name glob or by labels; exactly one of the three fields must be set.', {
      labelSelector: { matchLabels: { enforce: 'mypolicy' } },
    }),
  },
);

export const PolicyMatchSchema = Type.Object(
  {
    namespaceSelector: Type.Optional(NamespaceSelectorSchema),
    labelSelector: Type.Optional(LabelSelectorSchema),
  },
  {
    additionalProperties: false,
    ...doc('Which objects the policy applies to: namespaces by selector, pods by labels.', {
      namespaceSelector: { labelSelector: { matchLabels: { enforce: 'mypolicy' } } },
    }),
  },
);

const ObjectMetaSchema = Type.Object(
  {
    name: Type.String({ pattern: DNS_SUBDOMAIN, maxLength: 253, ...doc('Object name (DNS subdomain).', 'mypolicy') }),
    labels: Type.Optional(LabelMap('Labels of the object.', { team: 'platform' })),
    annotations: Type.Optional(LabelMap('Annotations of the object.', { owner: 'secops' })),
  },
  { additionalProperties: false, ...doc('Standard object metadata (only the fields the lab reads).', { name: 'mypolicy' }) },
);

const EnforcementAction = Type.Enum(
  ['Deny', 'Warn', 'Dryrun'],
  doc('What a violation does: Deny refuses the pod, Warn admits it with a warning, Dryrun admits it and records the violation.', 'Deny'),
);

// ---------------------------------------------------------------------------
// SecurityPolicy (deckhouse.io/v1alpha1)

/** Capability names accepted by the CRD (Linux capabilities(7) without the CAP_ prefix, plus ALL). */
export const CAPABILITIES = [
  'ALL', 'SETPCAP', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME',
  'SYS_TTY_CONFIG', 'MKNOD', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'MAC_OVERRIDE', 'MAC_ADMIN', 'NET_ADMIN', 'SYSLOG',
  'CHOWN', 'NET_RAW', 'DAC_OVERRIDE', 'FOWNER', 'DAC_READ_SEARCH', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'IPC_LOCK', 'IPC_OWNER', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_BOOT', 'LEASE', 'SETFCAP', 'WAKE_ALARM', 'BLOCK_SUSPEND',
] as const;

/** Volume source names accepted by `allowedVolumes` (the PodSecurityPolicy FSType list). */
export const VOLUME_TYPES = [
  '*', 'none', 'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephFS', 'cinder', 'configMap', 'csi',
  'downwardAPI', 'emptyDir', 'ephemeral', 'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs',
  'hostPath', 'image', 'iscsi', 'nfs', 'persistentVolumeClaim', 'photonPersistentDisk', 'portworxVolume', 'projected',
  'quobyte', 'rbd', 'scaleIO', 'secret', 'storageos', 'vsphereVolume',
] as const;

const IdRangeSchema = Type.Object(
  {
    min: Type.Integer({ minimum: 0, maximum: 2147483647, ...doc('Smallest allowed ID, inclusive.', 100) }),
    max: Type.Integer({ minimum: 0, maximum: 2147483647, ...doc('Largest allowed ID, inclusive.', 200) }),
  },
  { additionalProperties: false, ...doc('An inclusive range of user or group IDs.', { min: 100, max: 200 }) },
);

const GroupRuleSchema = (field: string, example: unknown) =>
  Type.Object(
    {
      rule: Type.Enum(
        ['MustRunAs', 'MayRunAs', 'RunAsAny'],
        doc('MustRunAs: the ID must be set and inside a range; MayRunAs: if set, inside a range; RunAsAny: no check.', 'MustRunAs'),
      ),
      ranges: Type.Optional(Type.Array(IdRangeSchema, doc('Allowed ID ranges for MustRunAs and MayRunAs.', [{ min: 100, max: 200 }]))),
    },
    { additionalProperties: false, ...doc(`Which ${field} values the security context may use.`, example) },
  );

const RunAsUserSchema = Type.Object(
  {
    rule: Type.Enum(
      ['MustRunAs', 'MustRunAsNonRoot', 'RunAsAny'],
      doc('MustRunAs: runAsUser set and inside a range; MustRunAsNonRoot: runAsUser non-zero, or unset with runAsNonRoot true; RunAsAny: no check.', 'MustRunAsNonRoot'),
    ),
    ranges: Type.Optional(Type.Array(IdRangeSchema, doc('Allowed user ID ranges for MustRunAs.', [{ min: 100, max: 200 }]))),
  },
  { additionalProperties: false, ...doc('Which runAsUser values the security context may use.', { rule: 'MustRunAsNonRoot' }) },
);

const HostPortRangeSchema = Type.Object(
  {
    min: Type.Integer({ minimum: 0, maximum: 65535, ...doc('Lowest allowed hostPort, inclusive.', 2000) }),
    max: Type.Integer({ minimum: 0, maximum: 65535, ...doc('Highest allowed hostPort, inclusive.', 4000) }),
  },
  { additionalProperties: false, ...doc('An inclusive range of host ports.', { min: 2000, max: 4000 }) },
);

const SeLinuxOptionSchema = Type.Object(
  {
    level: Type.Optional(Type.String(doc('SELinux level label.', 's0:c123,c456'))),
    role: Type.Optional(Type.String(doc('SELinux role label.', 'object_r'))),
    type: Type.Optional(Type.String(doc('SELinux type label; "" allows an explicitly empty type.', 'container_t'))),
    user: Type.Optional(Type.String(doc('SELinux user label.', 'system_u'))),
  },
  { additionalProperties: false, ...doc('One allowed combination of seLinuxOptions; each field set on a pod must equal the one here.', { type: 'container_t' }) },
);

const PublicKeyPem = Type.String({
  minLength: 1,
  ...doc('A Cosign-compatible public key in PEM (SubjectPublicKeyInfo).', '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...\n-----END PUBLIC KEY-----'),
});

export const VerifyImageSignatureSchema = Type.Object(
  {
    reference: Type.String({
      pattern: '^[a-z0-9.\\-:@/_]*\\*?$',
      minLength: 1,
      ...doc('Image reference or template; a single trailing * matches any suffix.', 'registry.example.com/labs/application/*'),
    }),
    publicKeys: Type.Array(PublicKeyPem, { minItems: 1, ...doc('Keys of which at least one must have signed a matching image.', ['-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----']) }),
    dockerCfg: Type.Optional(Type.String(doc('Base64 registry credentials (accepted; the lab pulls nothing itself).', 'eyJhdXRocyI6e319'))),
    ca: Type.Optional(Type.String(doc('CA for the registry connection (accepted; unused by the lab).', '-----BEGIN CERTIFICATE-----\n...'))),
  },
  { additionalProperties: false, ...doc('Cosign signature requirement for images matching a reference.', { reference: 'registry.example.com/*', publicKeys: ['-----BEGIN PUBLIC KEY-----\n...'] }) },
);

export const SecurityPoliciesSchema = Type.Object(
  {
    allowHostIPC: Type.Optional(Type.Boolean(doc('Allow sharing the host IPC namespace (spec.hostIPC).', false))),
    allowHostNetwork: Type.Optional(Type.Boolean(doc('Allow the host network (spec.hostNetwork).', false))),
    allowHostPID: Type.Optional(Type.Boolean(doc('Allow sharing the host PID namespace (spec.hostPID).', false))),
    allowPrivileged: Type.Optional(Type.Boolean(doc('Allow securityContext.privileged=true.', false))),
    allowPrivilegeEscalation: Type.Optional(
      Type.Boolean(doc('When false, every container must set securityContext.allowPrivilegeEscalation=false explicitly.', false)),
    ),
    allowedFlexVolumes: Type.Optional(
      Type.Array(
        Type.Object({ driver: Type.String(doc('Flex volume driver name.', 'vmware')) }, { additionalProperties: false, ...doc('An allowed flex volume driver.', { driver: 'vmware' }) }),
        doc('Flex volume drivers pods may use.', [{ driver: 'vmware' }]),
      ),
    ),
    allowedHostPorts: Type.Optional(Type.Array(HostPortRangeSchema, doc('Ranges every declared hostPort must fall in.', [{ min: 0, max: 0 }]))),
    allowedProcMount: Type.Optional(Type.Enum(['Default', 'Unmasked'], doc('Most permissive /proc mount type allowed.', 'Default'))),
    allowedAppArmor: Type.Optional(
      Type.Array(Type.String(), doc('AppArmor profiles containers may use (globs; an unset profile counts as runtime/default).', ['runtime/default', 'localhost/*'])),
    ),
    allowedUnsafeSysctls: Type.Optional(Type.Array(Type.String(), doc('Sysctls pods may set (globs; * allows all).', ['kernel.shm_rmid_forced', 'net.ipv4.*']))),
    forbiddenSysctls: Type.Optional(Type.Array(Type.String(), doc('Sysctls pods may not set (globs); wins over allowedUnsafeSysctls.', ['kernel.msg*']))),
    allowedVolumes: Type.Optional(
      Type.Array(Type.Enum([...VOLUME_TYPES]), doc('Volume source types pods may use; * allows all, none allows no volumes.', ['configMap', 'secret', 'emptyDir'])),
    ),
    allowedHostPaths: Type.Optional(
      Type.Array(
        Type.Object(
          {
            pathPrefix: Type.String({ minLength: 1, ...doc('Allowed host path prefix, matched per path component.', '/var/log') }),
            readOnly: Type.Optional(Type.Boolean(doc('When true, every mount of the volume must be readOnly.', true))),
          },
          { additionalProperties: false, ...doc('An allowed hostPath prefix.', { pathPrefix: '/var/log', readOnly: true }) },
        ),
        doc('hostPath prefixes pods may mount; an empty list allows no hostPath volume at all.', [{ pathPrefix: '/var/log', readOnly: true }]),
      ),
    ),
    fsGroup: Type.Optional(GroupRuleSchema('fsGroup', { rule: 'MustRunAs', ranges: [{ min: 100, max: 200 }] })),
    runAsUser: Type.Optional(RunAsUserSchema),
    runAsGroup: Type.Optional(GroupRuleSchema('runAsGroup', { rule: 'MayRunAs', ranges: [{ min: 300, max: 500 }] })),
    supplementalGroups: Type.Optional(GroupRuleSchema('supplementalGroups', { rule: 'MustRunAs', ranges: [{ min: 129, max: 133 }] })),
    readOnlyRootFilesystem: Type.Optional(Type.Boolean(doc('When true, every container must set readOnlyRootFilesystem=true.', true))),
    requiredDropCapabilities: Type.Optional(Type.Array(Type.Enum([...CAPABILITIES]), doc('Capabilities every container must drop (dropping ALL satisfies any).', ['ALL']))),
    allowedCapabilities: Type.Optional(Type.Array(Type.Enum([...CAPABILITIES]), doc('Capabilities containers may add (ALL allows any).', ['NET_BIND_SERVICE']))),
    seLinux: Type.Optional(Type.Array(SeLinuxOptionSchema, doc('Allowed seLinuxOptions combinations.', [{ type: '' }, { type: 'container_t' }]))),
    seccompProfiles: Type.Optional(
      Type.Object(
        {
          allowedProfiles: Type.Optional(
            Type.Array(Type.String(), doc('Allowed seccomp profiles: RuntimeDefault, Localhost, Unconfined, annotation forms, "undefined" for unset, "" for an empty type, * for any.', ['RuntimeDefault', 'Localhost'])),
          ),
          allowedLocalhostFiles: Type.Optional(Type.Array(Type.String(), doc('Localhost profile files allowed when Localhost is allowed (globs).', ['my_profile.json']))),
        },
        { additionalProperties: false, ...doc('Seccomp profiles pods and containers may use.', { allowedProfiles: ['RuntimeDefault'] }) },
      ),
    ),
    automountServiceAccountToken: Type.Optional(Type.Boolean(doc('When false, pods must set automountServiceAccountToken=false.', false))),
    allowedClusterRoles: Type.Optional(Type.Array(Type.String(), doc('Cluster roles that may be bound (applies to RoleBindings, not to pods).', ['view']))),
    allowRbacWildcards: Type.Optional(Type.Boolean(doc('Allow * in Role rules (applies to Roles, not to pods).', false))),
    verifyImageSignatures: Type.Optional(Type.Array(VerifyImageSignatureSchema, doc('Cosign signature requirements by image reference.', [{ reference: 'registry.example.com/*', publicKeys: ['-----BEGIN PUBLIC KEY-----\n...'] }]))),
  },
  { additionalProperties: false, ...doc('The checks of the policy; an unset field is not checked.', { allowPrivileged: false }) },
);

export const SecurityPolicySchema = Type.Object(
  {
    apiVersion: Type.Literal('deckhouse.io/v1alpha1', doc('API group and version.', 'deckhouse.io/v1alpha1')),
    kind: Type.Literal('SecurityPolicy', doc('Object kind.', 'SecurityPolicy')),
    metadata: ObjectMetaSchema,
    spec: Type.Object(
      {
        enforcementAction: Type.Optional(EnforcementAction),
        policies: SecurityPoliciesSchema,
        match: PolicyMatchSchema,
      },
      { additionalProperties: false, ...doc('Policy body.', { enforcementAction: 'Deny', policies: {}, match: { namespaceSelector: { matchNames: ['apps'] } } }) },
    ),
  },
  { additionalProperties: false, $id: 'securitypolicy.schema.json', title: 'SecurityPolicy', ...doc('A Deckhouse SecurityPolicy: pod and container security restrictions for selected namespaces.', { kind: 'SecurityPolicy' }) },
);

// ---------------------------------------------------------------------------
// OperationPolicy (deckhouse.io/v1alpha1)

const RequiredKeyItem = (what: 'label' | 'annotation') =>
  Type.Object(
    {
      key: Type.String({ minLength: 1, ...doc(`Required ${what} key.`, 'app.kubernetes.io/name') }),
      allowedRegex: Type.Optional(Type.String(doc('If set, the value must contain a match of this regular expression.', '^[a-z]+$'))),
    },
    { additionalProperties: false, ...doc(`One required ${what}.`, { key: 'app.kubernetes.io/name' }) },
  );

const WatchKinds = Type.Optional(
  Type.Array(Type.String({ pattern: '^[a-z.]*/[a-zA-Z]+$' }), doc('Kinds (`group/Kind`) to check; default all the engine sees.', ['/Pod', 'apps/Deployment'])),
);

const RequiredLabelsSchema = Type.Object(
  {
    labels: Type.Array(RequiredKeyItem('label'), { minItems: 1, ...doc('Labels that must be present.', [{ key: 'app.kubernetes.io/name' }]) }),
    watchKinds: WatchKinds,
  },
  { additionalProperties: false, ...doc('Required labels on objects.', { labels: [{ key: 'app.kubernetes.io/name' }] }) },
);

const RequiredAnnotationsSchema = Type.Object(
  {
    annotations: Type.Array(RequiredKeyItem('annotation'), { minItems: 1, ...doc('Annotations that must be present.', [{ key: 'owner' }]) }),
    watchKinds: WatchKinds,
  },
  { additionalProperties: false, ...doc('Required annotations on objects.', { annotations: [{ key: 'owner' }] }) },
);

export const OperationPoliciesSchema = Type.Object(
  {
    allowedRepos: Type.Optional(Type.Array(Type.String(), doc('Prefixes every container image must start with.', ['registry.deckhouse.io']))),
    requiredResources: Type.Optional(
      Type.Object(
        {
          limits: Type.Optional(Type.Array(Type.Enum(['cpu', 'memory']), doc('Limits every container must set.', ['memory']))),
          requests: Type.Optional(Type.Array(Type.Enum(['cpu', 'memory']), doc('Requests every container must set.', ['cpu', 'memory']))),
        },
        { additionalProperties: false, ...doc('Resources every container must declare.', { limits: ['memory'], requests: ['cpu'] }) },
      ),
    ),
    disallowedImageTags: Type.Optional(Type.Array(Type.String(), doc('Tags images may not use; an image without tag and digest counts as latest.', ['latest']))),
    disallowedCustomResources: Type.Optional(Type.Array(Type.String(), doc('Extended resources containers may not request (globs).', ['nvidia.com/*']))),
    disallowedTolerations: Type.Optional(
      Type.Array(
        Type.Object(
          {
            key: Type.Optional(Type.String(doc('Toleration key.', 'node-role.kubernetes.io/control-plane'))),
            operator: Type.Optional(Type.Enum(['Exists', 'Equal'], doc('Toleration operator.', 'Exists'))),
            value: Type.Optional(Type.String(doc('Toleration value.', ''))),
            effect: Type.Optional(Type.Enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'], doc('Toleration effect.', 'NoSchedule'))),
          },
          { additionalProperties: false, ...doc('A toleration pods may not carry; unset fields match anything.', { key: 'node-role.kubernetes.io/control-plane' }) },
        ),
        doc('Tolerations pods may not carry.', [{ key: 'node-role.kubernetes.io/control-plane' }]),
      ),
    ),
    requiredLabels: Type.Optional(RequiredLabelsSchema),
    requiredAnnotations: Type.Optional(RequiredAnnotationsSchema),
    requiredProbes: Type.Optional(
      Type.Array(Type.Enum(['livenessProbe', 'readinessProbe', 'startupProbe']), doc('Probes every container must define.', ['livenessProbe', 'readinessProbe'])),
    ),
    maxRevisionHistoryLimit: Type.Optional(
      Type.Integer({ minimum: 0, ...doc('Largest revisionHistoryLimit for Deployments, StatefulSets and DaemonSets (not applicable to pods).', 3) }),
    ),
    priorityClassNames: Type.Optional(Type.Array(Type.String(), doc('Priority classes pods must use.', ['production-high']))),
    ingressClassNames: Type.Optional(Type.Array(Type.String(), doc('Allowed ingress classes (applies to Ingresses, not to pods).', ['nginx']))),
    storageClassNames: Type.Optional(Type.Array(Type.String(), doc('Allowed storage classes (applies to PVCs, not to pods).', ['ceph-rbd']))),
    imagePullPolicy: Type.Optional(Type.Enum(['Always', 'IfNotPresent'], doc('Pull policy every container must have (after API defaulting).', 'Always'))),
    checkHostNetworkDNSPolicy: Type.Optional(Type.Boolean(doc('Pods with hostNetwork must use dnsPolicy ClusterFirstWithHostNet.', true))),
    checkContainerDuplicates: Type.Optional(Type.Boolean(doc('Refuse duplicate container names and duplicate env names in a container.', true))),
    replicaLimits: Type.Optional(
      Type.Object(
        {
          minReplicas: Type.Optional(Type.Integer({ minimum: 0, ...doc('Fewest replicas, inclusive.', 1) })),
          maxReplicas: Type.Optional(Type.Integer({ minimum: 0, ...doc('Most replicas, inclusive.', 10) })),
        },
        { additionalProperties: false, ...doc('Allowed replica range for workloads (not applicable to pods).', { minReplicas: 1, maxReplicas: 10 }) },
      ),
    ),
  },
  { additionalProperties: false, ...doc('The checks of the policy; an unset field is not checked.', { allowedRepos: ['registry.deckhouse.io'] }) },
);

export const OperationPolicySchema = Type.Object(
  {
    apiVersion: Type.Literal('deckhouse.io/v1alpha1', doc('API group and version.', 'deckhouse.io/v1alpha1')),
    kind: Type.Literal('OperationPolicy', doc('Object kind.', 'OperationPolicy')),
    metadata: ObjectMetaSchema,
    spec: Type.Object(
      {
        enforcementAction: Type.Optional(EnforcementAction),
        policies: OperationPoliciesSchema,
        match: PolicyMatchSchema,
      },
      { additionalProperties: false, ...doc('Policy body.', { policies: { allowedRepos: ['registry.deckhouse.io'] }, match: { namespaceSelector: { matchNames: ['apps'] } } }) },
    ),
  },
  { additionalProperties: false, $id: 'operationpolicy.schema.json', title: 'OperationPolicy', ...doc('A Deckhouse OperationPolicy: operational requirements for pods and workloads.', { kind: 'OperationPolicy' }) },
);

// ---------------------------------------------------------------------------
// Namespace (v1), as far as the lab needs it: a name and labels.

export const NamespaceSchema = Type.Object(
  {
    apiVersion: Type.Literal('v1', doc('Core API version.', 'v1')),
    kind: Type.Literal('Namespace', doc('Object kind.', 'Namespace')),
    metadata: Type.Object(
      {
        name: Type.String({ pattern: DNS_LABEL, maxLength: 63, ...doc('Namespace name (DNS label).', 'restricted-ns') }),
        labels: Type.Optional(LabelMap('Namespace labels; security.deckhouse.io/pod-policy and pod-policy-action drive Pod Security Standards.', { 'security.deckhouse.io/pod-policy': 'restricted' })),
        annotations: Type.Optional(LabelMap('Namespace annotations.', { owner: 'secops' })),
      },
      { additionalProperties: false, ...doc('Namespace metadata.', { name: 'restricted-ns' }) },
    ),
  },
  { additionalProperties: false, $id: 'namespace.schema.json', title: 'Namespace', ...doc('A lab namespace and its labels, standing in for the API server namespace cache.', { kind: 'Namespace' }) },
);

// ---------------------------------------------------------------------------
// AdmissionConfig (lab-owned): cluster-wide defaults that Deckhouse keeps in
// the admission-policy-engine ModuleConfig, plus the protected namespaces of
// the attached-signature check.

export const ADMISSION_LAB_API = 'integrity-lab.deckhouse.io/v1alpha1';

export const AdmissionConfigSchema = Type.Object(
  {
    apiVersion: Type.Literal(ADMISSION_LAB_API, doc('API group and version of lab-owned kinds.', ADMISSION_LAB_API)),
    kind: Type.Literal('AdmissionConfig', doc('Object kind.', 'AdmissionConfig')),
    metadata: ObjectMetaSchema,
    spec: Type.Object(
      {
        podSecurityStandards: Type.Optional(
          Type.Object(
            {
              defaultPolicy: Type.Optional(Type.Enum(['privileged', 'baseline', 'restricted'], doc('Level for namespaces without the pod-policy label (DVP ≥ 1.55 default: baseline).', 'baseline'))),
              enforcementAction: Type.Optional(Type.Enum(['deny', 'dryrun', 'warn'], doc('Mode for namespaces without the pod-policy-action label.', 'deny'))),
            },
            { additionalProperties: false, ...doc('Cluster-wide Pod Security Standards defaults (settings.podSecurityStandards).', { defaultPolicy: 'baseline', enforcementAction: 'deny' }) },
          ),
        ),
        imageSignatureVerification: Type.Optional(
          Type.Object(
            {
              namespaces: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, ...doc('Namespaces (globs) whose pods must carry attached signatures.', ['d8-*', 'kube-system']) }),
            },
            { additionalProperties: false, ...doc('Where the attached-signature (delivery-kit) check applies.', { namespaces: ['d8-*', 'kube-system'] }) },
          ),
        ),
      },
      { additionalProperties: false, ...doc('Cluster-wide admission settings.', { podSecurityStandards: { defaultPolicy: 'baseline' } }) },
    ),
  },
  { additionalProperties: false, $id: 'admissionconfig.schema.json', title: 'AdmissionConfig', ...doc('Lab-wide admission defaults.', { kind: 'AdmissionConfig' }) },
);

// ---------------------------------------------------------------------------
// AdmissionSuite (lab-owned): offline cases, like `gator verify`.

export const AdmissionSuiteSchema = Type.Object(
  {
    apiVersion: Type.Literal(ADMISSION_LAB_API, doc('API group and version of lab-owned kinds.', ADMISSION_LAB_API)),
    kind: Type.Literal('AdmissionSuite', doc('Object kind.', 'AdmissionSuite')),
    metadata: ObjectMetaSchema,
    spec: Type.Object(
      {
        policies: Type.Optional(Type.String({ minLength: 1, ...doc('Directory of policies and namespaces, relative to the suite file.', '../policies') })),
        signatures: Type.Optional(
          Type.Object(
            {
              attached: Type.Optional(Type.Array(Type.String(), doc('Images whose attached (delivery-kit) signature verifies; all others fail.', ['registry.lab/d8/agent@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef']))),
              cosign: Type.Optional(
                Type.Array(
                  Type.Object(
                    {
                      image: Type.String({ minLength: 1, ...doc('Image reference as written in the pod.', 'registry.example.com/labs/application/app:1.0') }),
                      publicKey: PublicKeyPem,
                    },
                    { additionalProperties: false, ...doc('A Cosign signature of an image by one key.', { image: 'registry.example.com/labs/application/app:1.0', publicKey: '-----BEGIN PUBLIC KEY-----\n...' }) },
                  ),
                  doc('Cosign signatures that verify; every other image/key pair fails.', [{ image: 'registry.example.com/app:1.0', publicKey: '-----BEGIN PUBLIC KEY-----\n...' }]),
                ),
              ),
            },
            { additionalProperties: false, ...doc('Signature verification outcomes the suite assumes (a static verifier).', { attached: [] }) },
          ),
        ),
        cases: Type.Array(
          Type.Object(
            {
              name: Type.String({ minLength: 1, ...doc('Case name, unique in the suite.', 'privileged pod is refused in restricted-ns') }),
              namespace: Type.String({ pattern: DNS_LABEL, ...doc('Namespace the object is created in; must be declared in the policies directory.', 'restricted-ns') }),
              operation: Type.Optional(Type.Enum(['CREATE', 'UPDATE'], doc('Admission operation.', 'CREATE'))),
              object: Type.Optional(Type.Object({}, { additionalProperties: true, ...doc('Inline Pod or workload manifest.', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }) })),
              objectFile: Type.Optional(Type.String({ minLength: 1, ...doc('Path of a manifest file, relative to the suite file.', 'pods/privileged.yaml') })),
              expected: Type.Enum(['allow', 'deny'], doc('Expected admission outcome.', 'deny')),
              expectedMessage: Type.Optional(Type.String({ minLength: 1, ...doc('Substring of the denial message, or /regex/ between slashes.', 'privileged') })),
              expectedWarning: Type.Optional(Type.String({ minLength: 1, ...doc('Substring (or /regex/) one of the warnings must contain.', 'would violate') })),
            },
            { additionalProperties: false, ...doc('One admission case: an object, where it goes, and what must happen.', { name: 'c', namespace: 'apps', objectFile: 'pods/ok.yaml', expected: 'allow' }) },
          ),
          { minItems: 1, ...doc('The cases.', [{ name: 'c', namespace: 'apps', objectFile: 'pods/ok.yaml', expected: 'allow' }]) },
        ),
      },
      { additionalProperties: false, ...doc('Suite body.', { cases: [] }) },
    ),
  },
  { additionalProperties: false, $id: 'admissionsuite.schema.json', title: 'AdmissionSuite', ...doc('Offline admission test cases, in the spirit of gator verify.', { kind: 'AdmissionSuite' }) },
);

export type SecurityPolicyDoc = Static<typeof SecurityPolicySchema>;
export type SecurityPolicies = Static<typeof SecurityPoliciesSchema>;
export type OperationPolicyDoc = Static<typeof OperationPolicySchema>;
export type OperationPolicies = Static<typeof OperationPoliciesSchema>;
export type NamespaceDoc = Static<typeof NamespaceSchema>;
export type AdmissionConfigDoc = Static<typeof AdmissionConfigSchema>;
export type AdmissionSuiteDoc = Static<typeof AdmissionSuiteSchema>;
export type PolicyMatch = Static<typeof PolicyMatchSchema>;
export type EnforcementActionName = 'Deny' | 'Warn' | 'Dryrun';

/** The declarative kinds, by `kind`, with the file name their schema is written to. */
export const DOCUMENT_SCHEMAS: Readonly<Record<string, { apiVersion: string; schema: TSchema; file: string }>> = {
  SecurityPolicy: { apiVersion: 'deckhouse.io/v1alpha1', schema: SecurityPolicySchema, file: 'securitypolicy.schema.json' },
  OperationPolicy: { apiVersion: 'deckhouse.io/v1alpha1', schema: OperationPolicySchema, file: 'operationpolicy.schema.json' },
  Namespace: { apiVersion: 'v1', schema: NamespaceSchema, file: 'namespace.schema.json' },
  AdmissionConfig: { apiVersion: ADMISSION_LAB_API, schema: AdmissionConfigSchema, file: 'admissionconfig.schema.json' },
  AdmissionSuite: { apiVersion: ADMISSION_LAB_API, schema: AdmissionSuiteSchema, file: 'admissionsuite.schema.json' },
};
