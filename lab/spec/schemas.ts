/**
 * The declarative scenario formats, defined once: the TypeScript types and
 * the JSON Schemas (scenarios/schemas/*.schema.json, for editors and for
 * validation) both come from these definitions.
 *
 * Specs look like Kubernetes objects: apiVersion, kind, metadata, spec.
 */
import { Type, type Static, type TSchema } from 'typebox';
import type { V1Deployment, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { ATTACK_ID_PATTERN } from './mitre.ts';

export const API_VERSION = 'integrity-lab.io/v1alpha1';

const Name = Type.String({
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  maxLength: 63,
  description: 'A DNS-label name, unique among objects of this kind.',
  examples: ['app'],
});

function object<K extends string, S extends TSchema>(kind: K, spec: S, description: string) {
  return Type.Object(
    {
      apiVersion: Type.Literal(API_VERSION, { description: 'Always integrity-lab.io/v1alpha1.', examples: [API_VERSION] }),
      kind: Type.Literal(kind, { description: `Always ${kind}.`, examples: [kind] }),
      metadata: Type.Object(
        {
          name: Name,
          description: Type.Optional(
            Type.String({ description: 'What this object is for, in one sentence.', examples: ['The control group: containerd as packaged.'] }),
          ),
        },
        { additionalProperties: false, description: 'Identity of the object.' },
      ),
      spec,
    },
    { additionalProperties: false, description, $id: kind },
  );
}

// ---------------------------------------------------------------- LabProfile

export const COMPONENTS = ['pull-gate', 'start-gate', 'watchdog', 'audit', 'admission'] as const;
export type ComponentName = (typeof COMPONENTS)[number];

export const LabProfileSchema = object(
  'LabProfile',
  Type.Object(
    {
      containerd: Type.Object(
        {
          snapshotter: Type.Literal('erofs', {
            description: 'Snapshotter for CRI and the transfer service. The lab targets EROFS.',
            examples: ['erofs'],
          }),
          setImmutable: Type.Boolean({
            description: 'EROFS snapshotter `set_immutable`: chattr +i on each layer.erofs (root can undo it).',
            examples: [false],
          }),
          mkfsOptions: Type.Array(Type.String(), {
            description: 'EROFS differ `mkfs_options`. The default makes layer files reproducible (FACTS.md).',
            examples: [['-T0', '--mkfs-time', '--sort=none']],
          }),
        },
        { additionalProperties: false, description: 'How containerd is configured on the node.' },
      ),
      components: Type.Array(
        Type.Union(COMPONENTS.map((c) => Type.Literal(c))),
        {
          uniqueItems: true,
          description: 'Integrity components installed on the node. Empty for the vanilla control.',
          examples: [['pull-gate', 'start-gate']],
        },
      ),
      gates: Type.Optional(
        Type.Object(
          {
            protectedNamespaces: Type.Array(Type.String(), {
              description: 'Namespaces whose containers must pass the start gate (globs).',
              examples: [['kube-system', 'd8-*']],
            }),
            protectedImages: Type.Array(Type.String(), {
              description: 'Image references the pull gate protects (globs over host/repository:tag).',
              examples: [['127.0.0.1:5000/system/*']],
            }),
            allowedFormats: Type.Array(Type.Union([Type.Literal('v2'), Type.Literal('delivery-kit')]), {
              minItems: 1,
              description: 'Signature payload formats the gates accept. Only v2 signs the root hashes.',
              examples: [['v2']],
            }),
            standardLayerRootHash: Type.String({
              pattern: '^[0-9a-f]{64}$',
              description: 'Pinned dm-verity root hash of the standard read-only mount-points layer.',
              examples: ['0000000000000000000000000000000000000000000000000000000000000000'],
            }),
            applicationTier: Type.Optional(
              Type.Object(
                {
                  namespaces: Type.Array(Type.String({ minLength: 1 }), {
                    description: 'Namespaces that opt in to the application tier (globs). protectedNamespaces stay in the system tier.',
                    examples: [['*']],
                  }),
                  exempt: Type.Array(Type.String({ minLength: 1 }), {
                    description: 'Namespaces that opt out although a glob in namespaces matches them (globs).',
                    examples: [['lab-scratch']],
                  }),
                },
                {
                  additionalProperties: false,
                  description:
                    'The application tier: before a container starts, the local image (manifest, config, every layer blob and layer.erofs) is checked against the digest it is known by; the watchdog re-verifies its layers while it runs. Absent: no such check.',
                },
              ),
            ),
          },
          { additionalProperties: false, description: 'Settings of the pull gate and the start gate.' },
        ),
      ),
      watchdog: Type.Optional(
        Type.Object(
          {
            namespaces: Type.Array(
              Type.Object(
                {
                  match: Type.String({ minLength: 1, description: 'Namespace name or glob.', examples: ['kube-system', 'd8-*'] }),
                  mode: Type.Union([Type.Literal('detect'), Type.Literal('enforce')], {
                    description: 'detect: alert; enforce: alert and stop the container.',
                    examples: ['detect'],
                  }),
                },
                { additionalProperties: false },
              ),
              { minItems: 1, description: 'Namespaces the watchdog watches, first match wins; others are not watched.', examples: [[{ match: 'kube-system', mode: 'detect' }]] },
            ),
            notify: Type.Optional(
              Type.Union([Type.Literal('auto'), Type.Literal('fanotify'), Type.Literal('poll')], {
                description: 'How mount changes are noticed: fanotify mount events (Linux 6.15+), polling, or auto (events where available).',
                examples: ['auto'],
              }),
            ),
            pollIntervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 600000, description: 'Polling period per namespace, in ms.', examples: [500] })),
            fullScanIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3600000, description: 'With events: period of the full scan that catches remounts, in ms.', examples: [5000] })),
            discoveryIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600000, description: 'Period of container discovery, in ms.', examples: [2000] })),
            reverify: Type.Optional(
              Type.Object(
                {
                  minIntervalMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86400000, description: 'A layer in use is re-verified at most this often, in ms.', examples: [10000] })),
                  maxParallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, description: 'Verifications at once.', examples: [1] })),
                  maxReadMBps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000, description: 'Read budget of all verifications together, MB/s.', examples: [32] })),
                },
                { additionalProperties: false, description: 'Periodic re-verification of layer files against their signed root hashes.' },
              ),
            ),
            releaseLeftovers: Type.Optional(Type.Boolean({ description: 'Detach the mounts a stopped container\'s namespace still holds.', examples: [true] })),
            allowedFormats: Type.Optional(
              Type.Array(Type.Union([Type.Literal('v2'), Type.Literal('delivery-kit')]), { minItems: 1, description: 'Signature formats whose root hashes the watchdog believes.', examples: [['v2']] }),
            ),
          },
          { additionalProperties: false, description: 'Settings of the mount watchdog (lab/watchdog, docs/watchdog.md).' },
        ),
      ),
    },
    { additionalProperties: false, description: 'What runs on the lab node.' },
  ),
  'A lab profile: how a lab node is configured. `vanilla` is the control group.',
);
export type LabProfile = Static<typeof LabProfileSchema>;

// ------------------------------------------------------------------ Workload

const FileEntry = Type.Object(
  {
    path: Type.String({ pattern: '^/', description: 'Absolute path inside the image.', examples: ['/app/message'] }),
    content: Type.String({ description: 'File content, UTF-8.', examples: ['hello from a signed layer\n'] }),
    mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777, description: 'Permission bits (decimal in YAML, e.g. 493 for 0755).', examples: [420] })),
  },
  { additionalProperties: false },
);

const Layer = Type.Object(
  {
    busybox: Type.Optional(
      Type.Boolean({ description: 'Add the node\'s static busybox as /bin/busybox with applet links (/bin/sh, /bin/cat, …).', examples: [true] }),
    ),
    files: Type.Optional(Type.Array(FileEntry, { description: 'Files with inline content.' })),
    random: Type.Optional(
      Type.Object(
        {
          path: Type.String({ pattern: '^/', description: 'Where the file goes.', examples: ['/data/blob'] }),
          sizeMiB: Type.Number({ exclusiveMinimum: 0, maximum: 1024, description: 'Size in MiB.', examples: [20] }),
          seed: Type.String({ description: 'Seed for the deterministic content.', examples: ['layer-3'] }),
        },
        { additionalProperties: false, description: 'A file of deterministic pseudo-random bytes (for size benchmarks).' },
      ),
    ),
  },
  { additionalProperties: false, description: 'One image layer. Its entries are combined into one tar.' },
);

export const WorkloadSchema = object(
  'Workload',
  Type.Object(
    {
      namespace: Type.String({ description: 'Kubernetes namespace the pod runs in.', examples: ['apps', 'kube-system'] }),
      image: Type.Object(
        {
          repository: Type.String({
            pattern: '^[a-z0-9]+([._/-][a-z0-9]+)*$',
            description: 'Repository in the lab registry.',
            examples: ['lab/app'],
          }),
          tag: Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$', description: 'Tag.', examples: ['1.0'] }),
          layers: Type.Array(Layer, { minItems: 1, description: 'Layers, base first.' }),
          entrypoint: Type.Array(Type.String(), { minItems: 1, description: 'Image entrypoint.', examples: [['/bin/sh', '-c', 'sleep 3600']] }),
          user: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$',
              description: "The image config's User: a name or uid, optionally `:group` (a name is looked up in the image's /etc/passwd, which a layer must provide).",
              examples: ['agent', '1000:1000'],
            }),
          ),
          annotations: Type.Optional(
            Type.Record(Type.String(), Type.String(), {
              description: 'Manifest annotations. Signatures cover them.',
              examples: [{ 'org.opencontainers.image.title': 'lab app' }],
            }),
          ),
        },
        { additionalProperties: false, description: 'An image the lab builds from local content, with deterministic digests.' },
      ),
      readOnlyRootFilesystem: Type.Optional(Type.Boolean({ description: 'securityContext.readOnlyRootFilesystem.', examples: [false] })),
      privileged: Type.Optional(Type.Boolean({ description: 'securityContext.privileged of the container (CRI privileged).', examples: [true] })),
      hostPathMounts: Type.Optional(
        Type.Array(
          Type.Object(
            {
              hostPath: Type.String({ pattern: '^/', description: 'Path on the node (a hostPath volume).', examples: ['/etc'] }),
              containerPath: Type.String({ pattern: '^/', description: 'Where it appears in the container.', examples: ['/host/etc'] }),
              readOnly: Type.Optional(Type.Boolean({ description: 'Mount read-only.', examples: [true] })),
            },
            { additionalProperties: false },
          ),
          { description: 'Host directories mounted into the container (hostPath volumes).' },
        ),
      ),
      pod: Type.Optional(
        Type.Unsafe<V1PodTemplateSpec>({
          type: 'object',
          description:
            'A Kubernetes pod template (core/v1 PodTemplateSpec: `metadata` with labels and annotations, and `spec`, a PodSpec), checked against the Kubernetes schema. Containers without `image` run the image the lab builds. Not with readOnlyRootFilesystem, privileged or hostPathMounts: say them in the pod.',
          examples: [{ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', ports: [{ containerPort: 8080, hostPort: 8080 }] }] } }],
        }),
      ),
      manifest: Type.Optional(
        Type.Unsafe<V1Pod | V1Deployment>({
          type: 'object',
          description:
            'A whole Kubernetes Pod (v1) or Deployment (apps/v1) manifest, checked against the Kubernetes schema; the workload runs one pod of it. Containers without `image` run the image the lab builds. Not with `pod` nor the shorthand fields.',
          examples: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'web' }] } }],
        }),
      ),
    },
    { additionalProperties: false, description: 'A pod: one container from the shorthand fields, or the pod `pod` or `manifest` describes.' },
  ),
  'A workload: an image built by the lab and a pod that runs it.',
);
export type Workload = Static<typeof WorkloadSchema>;
export type LayerSpec = Static<typeof Layer>;

// -------------------------------------------------------------------- Attack

export const OUTCOMES = ['blocked', 'detected', 'succeeded'] as const;
export type Outcome = (typeof OUTCOMES)[number];
const OutcomeSchema = Type.Union(OUTCOMES.map((o) => Type.Literal(o)), {
  description: 'blocked: the attack had no effect; detected: it had effect and was reported; succeeded: it had effect, unnoticed.',
  examples: ['succeeded'],
});

/**
 * Attack techniques, each implemented in lab/attacks/techniques/<name>.ts.
 * The list is here so that scenario files are checked against it. An attack
 * can instead declare its commands in YAML (`steps`, lab/attacks/declarative.ts):
 * rootfs-write, shell-in-container and read-shadow moved there.
 */
export const TECHNIQUES = [
  // node integrity gates
  'layer-file-tamper',
  'layer-file-tamper-before-start',
  'layer-file-swap',
  'unsigned-pull',
  'side-load-import',
  'upperdir-write',
  'bundle-namespace-forge',
  'containerd-record-update',
  'containerd-record-command',
  'containerd-record-hook',
  'containerd-record-capabilities',
  'containerd-record-namespace',
  'containerd-record-writable-sysfs',
  'containerd-record-user',
  'containerd-record-groups',
  'containerd-record-sysctls',
  'containerd-record-rlimits',
  'containerd-record-seccomp',
  'localhost-seccomp-overmount',
  'content-store-layer-tamper',
  'content-store-config-tamper',
  'forged-layer-mount',
  'image-config-tamper',
  'image-retag-before-start',
  'gate-config-unprotect',
  'runtime-wrapper-unhook',
  'runtime-wrapper-replace',
  'trusted-roots-add-ca',
  'watchdog-restart-launder',
  'gate-socket-hijack',
  'copied-binary-exec',
  'memfd-exec',
  'memfd-exec-inside',
  'compat-syscall-exec',
  'uring-file-read',
  'transient-exec-remount',
  'watchdog-kill',
  'watchdog-freeze',
  'watchdog-cgroup-freeze',
  'watchdog-cpu-starve',
  'startup-shell',
  'start-hold-remove',
  'sandbox-file-rewrite',
  'runc-replace',
  'layer-bind-replace',
  'pull-verifier-empty',
  'shell-replace-unsigned-pull',
  'shell-replace-ungated-write',
  'shell-replace-startup-shell',
  'auditctl-replace',
  'runc-preload',
  'runc-env-preload',
  'audit-rules-delete',
  'audit-daemon-freeze',
  'audit-kernel-disable',
  'audit-never-rule',
  'audit-rate-limit',
  'runc-library-replace',
  'watchdog-config-unwatch',
  'bundle-mount-declare',
  'record-mount-declare',
  'ctr-hide-tasks',
  'pause-image-side-load',
  'registry-serve-other-signed',
  'registry-rollback',
  // mount watchdog
  'overmount-nsenter',
  'overmount-move-mount',
  'overmount-directory',
  'overmount-private-namespace',
  'transient-overmount',
  'tmpfs-over-etc',
  // audit rules
  'privileged-container',
  'hostpath-etc',
] as const;
export type TechniqueName = (typeof TECHNIQUES)[number];

/** Where a declared attack command runs (lab/attacks/declarative.ts). */
export const STEP_PLACES = ['node', 'container-namespaces', 'container'] as const;
export type StepPlace = (typeof STEP_PLACES)[number];

const StepExpect = Type.Object(
  {
    exitCode: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'The exit code when the attack took effect.', examples: [0] })),
    stdout: Type.Optional(Type.String({ description: 'The exact standard output when the attack took effect; $PAYLOAD, $TARGET_PATH and the other variables are replaced.', examples: ['$PAYLOAD'] })),
    stdoutNotEmpty: Type.Optional(Type.Boolean({ description: 'The attack took effect when the command printed something.', examples: [true] })),
  },
  { additionalProperties: false, minProperties: 1, description: 'What the command shows when the attack took effect; every given condition must hold.' },
);

const StepPlaceSchema = Type.Union([Type.Literal(STEP_PLACES[0]), Type.Literal(STEP_PLACES[1]), Type.Literal(STEP_PLACES[2])], {
  description:
    "node: root on the node; container-namespaces: root on the node entered into the target container's namespaces (nsenter: its mounts and files, none of its restrictions); container: inside the container, as `kubectl exec` (CRI ExecSync).",
  examples: ['container'],
});

const StepScript = Type.String({
  minLength: 1,
  description:
    "A POSIX sh script, run by the harness's own sh; on the node only (in the container or its namespaces, give `run`). It sees TARGET_PATH, PAYLOAD (the attack's target.path and payload, empty when unset), POD, NAMESPACE, CONTAINER_ID and CONTAINER_PID (the target container's init process, on the node) as environment variables.",
  examples: ['printf %s "$PAYLOAD" > "$TARGET_PATH"'],
});

const StepRun = Type.Array(Type.String(), {
  minItems: 1,
  description:
    'A command as an argv, executed as it is, with no shell around it: the only process it starts is the one named. $TARGET_PATH, $PAYLOAD, $POD, $NAMESPACE, $CONTAINER_ID and $CONTAINER_PID in an element are replaced by their values (the element stays one argument). Required in the container and in its namespaces, so that audit sees there only what the attack runs.',
  examples: [['cat', '$TARGET_PATH'], ['sh', '-c', '$PAYLOAD']],
});

const StepEvidence = Type.Union([Type.Literal('output'), Type.Literal('digest')], {
  description: "What of the command's output goes into the evidence: the output itself (default), or only its size and SHA-256 (for secrets such as /etc/shadow).",
  examples: ['digest'],
});

const StepCommand = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'What the command does, in a few words (for the evidence).', examples: ['overwrite the file from inside the container'] }),
    in: StepPlaceSchema,
    script: Type.Optional(StepScript),
    run: Type.Optional(StepRun),
    expect: Type.Optional(StepExpect),
    evidence: Type.Optional(StepEvidence),
  },
  { additionalProperties: false, description: 'One command: give either `run` (an argv) or `script` (POSIX sh, on the node only).' },
);
export type StepCommandSpec = Static<typeof StepCommand>;

const StepCheck = Type.Object(
  { in: StepPlaceSchema, script: Type.Optional(StepScript), run: Type.Optional(StepRun), expect: StepExpect, evidence: Type.Optional(StepEvidence) },
  { additionalProperties: false, description: "A command run after the steps, whether or not they all ran, whose result says whether the attacker's change took effect." },
);
export type StepCheckSpec = Static<typeof StepCheck>;

const DeclaredBlock = Type.Object(
  {
    component: Type.Union(COMPONENTS.map((c) => Type.Literal(c)), { description: 'The defence that blocked the attack; it counts only when it is in `caughtBy` and installed on the profile.', examples: ['start-gate'] }),
    step: Type.String({ minLength: 1, description: 'The step whose failure is the evidence.', examples: ['overwrite a file of the image from inside the container'] }),
    stderr: Type.String({ minLength: 1, description: 'Text the failed step\'s standard error must contain: the error the defence caused, e.g. the kernel\'s.', examples: ['Read-only file system'] }),
    proof: Type.Optional(
      Type.Object(
        { in: StepPlaceSchema, script: Type.Optional(StepScript), run: Type.Optional(StepRun), expect: StepExpect },
        { additionalProperties: false, description: "A command showing the defence's mechanism in place (e.g. a root overlay with no upperdir), so the failure is not an accident of the workload." },
      ),
    ),
  },
  { additionalProperties: false, description: "Evidence that a defence blocked a declared attack: a step that failed with the defence's error, optionally confirmed by a proof command." },
);
// TypeBox cannot infer a union built from a mapped array: the component is named here.
export type DeclaredBlockSpec = Omit<Static<typeof DeclaredBlock>, 'component'> & { component: ComponentName };

export const AttackSchema = object(
  'Attack',
  Type.Object(
    {
      technique: Type.Optional(
        Type.Union(TECHNIQUES.map((t) => Type.Literal(t)), {
          description: 'How the attack is carried out, implemented in TypeScript in lab/attacks/techniques. Give either this or `steps`.',
          examples: ['layer-file-tamper'],
        }),
      ),
      blockedBy: Type.Optional(
        Type.Array(DeclaredBlock, {
          minItems: 1,
          description: 'For a declared attack (`steps`): what a failed step must show to count as blocked by a defence. Without it, a failed step is an error, never `blocked`.',
        }),
      ),
      steps: Type.Optional(
        Type.Array(StepCommand, {
          minItems: 1,
          description: 'A declared attack, instead of `technique`: commands run in order on the node, in the target container\'s namespaces or inside it; the first that exits non-zero ends them. The attack took effect when every `expect` (of the steps and of `check`) holds; at least one is needed.',
        }),
      ),
      check: Type.Optional(StepCheck),
      cleanup: Type.Optional(
        Type.Array(StepCommand, { minItems: 1, description: 'Commands that undo the attack; they always run, after the check, even when a step failed.' }),
      ),
      target: Type.Object(
        {
          workload: Type.String({ description: 'Name of the Workload whose image is attacked.', examples: ['app'] }),
          path: Type.Optional(Type.String({ pattern: '^/', description: 'File or directory inside the container the attack targets, when the technique needs one.', examples: ['/app/message'] })),
        },
        { additionalProperties: false },
      ),
      payload: Type.Optional(
        Type.String({
          minLength: 1,
          description: 'What the attacker wants the target to contain, when the technique writes something. For an in-place tamper it must be no longer than the original.',
          examples: ['owned by the host attacker'],
        }),
      ),
      caughtBy: Type.Array(Type.Union(COMPONENTS.map((c) => Type.Literal(c))), {
        description: 'The components that must catch this attack on a profile that has them.',
        examples: [['start-gate']],
      }),
      attack: Type.Optional(
        Type.Array(Type.String({ pattern: ATTACK_ID_PATTERN, description: 'A MITRE ATT&CK technique id, T1234 or T1234.001.', examples: ['T1525'] }), {
          minItems: 1,
          uniqueItems: true,
          description: 'MITRE ATT&CK techniques this attack carries out: the Containers matrix first, Enterprise Linux ones where they fit better. Each id must be in lab/spec/mitre.ts.',
          examples: [['T1525', 'T1565.001']],
        }),
      ),
      severity: Type.Union(['blocker', 'critical', 'normal', 'minor', 'trivial'].map((s) => Type.Literal(s)), {
        description: 'Allure severity.',
        examples: ['critical'],
      }),
      expected: Type.Record(Type.String(), OutcomeSchema, {
        description: 'Expected outcome per lab profile name. The vanilla control must expect `succeeded`.',
        examples: [{ vanilla: 'succeeded', integrity: 'blocked' }],
      }),
    },
    { additionalProperties: false },
  ),
  'An attack against a workload, with its expected outcome per profile.',
);
export type Attack = Static<typeof AttackSchema>;

export const SCHEMAS = { LabProfile: LabProfileSchema, Workload: WorkloadSchema, Attack: AttackSchema } as const;
export type Kind = keyof typeof SCHEMAS;
export interface KindTypes {
  LabProfile: LabProfile;
  Workload: Workload;
  Attack: Attack;
}
