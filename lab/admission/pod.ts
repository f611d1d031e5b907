/**
 * The parts of a Pod (core/v1) and of pod-owning workloads (apps/v1) that
 * the policies read, as a typebox schema: the TypeScript types are derived
 * from it and ajv checks incoming objects against it before any policy runs.
 *
 * Trust boundary: the object in an AdmissionReview is attacker-controlled.
 * kube-apiserver validates pods before validating webhooks see them, but the
 * webhook cannot rely on that (the request may come from anywhere that can
 * reach the port), so a wrongly typed field is a malformed request (HTTP 400),
 * never a crash and never an admit. Unknown fields are tolerated, as
 * Kubernetes' own decoders tolerate them.
 */
import Type, { type Static } from 'typebox';
import { describeValue, formatPath, validateAgainst } from './validate.ts';

const Str = Type.String();
const Int = Type.Integer();
const Bool = Type.Boolean();
const open = { additionalProperties: true } as const;
const StrMap = Type.Record(Type.String(), Type.String());

const SeLinuxOptions = Type.Object(
  { user: Type.Optional(Str), role: Type.Optional(Str), type: Type.Optional(Str), level: Type.Optional(Str) },
  open,
);
const ProfileRef = Type.Object({ type: Type.Optional(Str), localhostProfile: Type.Optional(Str) }, open);
const WindowsOptions = Type.Object({ hostProcess: Type.Optional(Bool) }, open);

const ContainerSecurityContext = Type.Object(
  {
    privileged: Type.Optional(Bool),
    allowPrivilegeEscalation: Type.Optional(Bool),
    readOnlyRootFilesystem: Type.Optional(Bool),
    runAsUser: Type.Optional(Int),
    runAsGroup: Type.Optional(Int),
    runAsNonRoot: Type.Optional(Bool),
    procMount: Type.Optional(Str),
    capabilities: Type.Optional(
      Type.Object({ add: Type.Optional(Type.Array(Str)), drop: Type.Optional(Type.Array(Str)) }, open),
    ),
    seLinuxOptions: Type.Optional(SeLinuxOptions),
    seccompProfile: Type.Optional(ProfileRef),
    appArmorProfile: Type.Optional(ProfileRef),
    windowsOptions: Type.Optional(WindowsOptions),
  },
  open,
);

const HostHandler = Type.Object(
  {
    httpGet: Type.Optional(Type.Object({ host: Type.Optional(Str) }, open)),
    tcpSocket: Type.Optional(Type.Object({ host: Type.Optional(Str) }, open)),
  },
  open,
);

const Quantity = Type.Union([Str, Type.Number()]);
const ResourceList = Type.Record(Type.String(), Quantity);

export const ContainerSchema = Type.Object(
  {
    name: Str,
    image: Str,
    imagePullPolicy: Type.Optional(Str),
    ports: Type.Optional(
      Type.Array(Type.Object({ containerPort: Type.Optional(Int), hostPort: Type.Optional(Int), name: Type.Optional(Str) }, open)),
    ),
    securityContext: Type.Optional(ContainerSecurityContext),
    resources: Type.Optional(
      Type.Object({ limits: Type.Optional(ResourceList), requests: Type.Optional(ResourceList) }, open),
    ),
    livenessProbe: Type.Optional(HostHandler),
    readinessProbe: Type.Optional(HostHandler),
    startupProbe: Type.Optional(HostHandler),
    lifecycle: Type.Optional(Type.Object({ postStart: Type.Optional(HostHandler), preStop: Type.Optional(HostHandler) }, open)),
    env: Type.Optional(Type.Array(Type.Object({ name: Str }, open))),
    volumeMounts: Type.Optional(
      Type.Array(Type.Object({ name: Str, mountPath: Type.Optional(Str), readOnly: Type.Optional(Bool) }, open)),
    ),
  },
  open,
);

export const PodSecurityContextSchema = Type.Object(
  {
    runAsUser: Type.Optional(Int),
    runAsGroup: Type.Optional(Int),
    runAsNonRoot: Type.Optional(Bool),
    fsGroup: Type.Optional(Int),
    supplementalGroups: Type.Optional(Type.Array(Int)),
    sysctls: Type.Optional(Type.Array(Type.Object({ name: Str, value: Type.Optional(Str) }, open))),
    seLinuxOptions: Type.Optional(SeLinuxOptions),
    seccompProfile: Type.Optional(ProfileRef),
    appArmorProfile: Type.Optional(ProfileRef),
    windowsOptions: Type.Optional(WindowsOptions),
  },
  open,
);

export const VolumeSchema = Type.Object(
  {
    name: Str,
    hostPath: Type.Optional(Type.Object({ path: Str }, open)),
    flexVolume: Type.Optional(Type.Object({ driver: Str }, open)),
    // An image volume (KEP-4639, on by default from Kubernetes 1.35): kubelet pulls the image and mounts it.
    image: Type.Optional(Type.Object({ reference: Type.Optional(Str), pullPolicy: Type.Optional(Str) }, open)),
  },
  open,
);

export const PodSpecSchema = Type.Object(
  {
    containers: Type.Array(ContainerSchema, { minItems: 1 }),
    initContainers: Type.Optional(Type.Array(ContainerSchema)),
    ephemeralContainers: Type.Optional(Type.Array(ContainerSchema)),
    volumes: Type.Optional(Type.Array(VolumeSchema)),
    hostNetwork: Type.Optional(Bool),
    hostPID: Type.Optional(Bool),
    hostIPC: Type.Optional(Bool),
    hostUsers: Type.Optional(Bool),
    securityContext: Type.Optional(PodSecurityContextSchema),
    os: Type.Optional(Type.Object({ name: Str }, open)),
    priorityClassName: Type.Optional(Str),
    dnsPolicy: Type.Optional(Str),
    automountServiceAccountToken: Type.Optional(Bool),
    tolerations: Type.Optional(
      Type.Array(
        Type.Object({ key: Type.Optional(Str), operator: Type.Optional(Str), value: Type.Optional(Str), effect: Type.Optional(Str) }, open),
      ),
    ),
  },
  open,
);

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.Optional(Str),
    generateName: Type.Optional(Str),
    namespace: Type.Optional(Str),
    labels: Type.Optional(StrMap),
    annotations: Type.Optional(StrMap),
  },
  open,
);

export const PodSchema = Type.Object(
  {
    apiVersion: Type.Optional(Str),
    kind: Type.Literal('Pod'),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: PodSpecSchema,
  },
  open,
);

/** Kinds whose `spec.template` is a pod template. */
export const WORKLOAD_KINDS = ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'] as const;

export const WorkloadSchema = Type.Object(
  {
    apiVersion: Type.Optional(Str),
    kind: Type.Enum([...WORKLOAD_KINDS]),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: Type.Object(
      {
        replicas: Type.Optional(Int),
        revisionHistoryLimit: Type.Optional(Int),
        template: Type.Object({ metadata: Type.Optional(ObjectMetaSchema), spec: PodSpecSchema }, open),
      },
      open,
    ),
  },
  open,
);

export type Container = Static<typeof ContainerSchema>;
export type ContainerSecurityContext = NonNullable<Container['securityContext']>;
export type PodSecurityContext = Static<typeof PodSecurityContextSchema>;
export type Volume = Static<typeof VolumeSchema>;
export type PodSpec = Static<typeof PodSpecSchema>;
export type ObjectMeta = Static<typeof ObjectMetaSchema>;
export type Pod = Static<typeof PodSchema>;
export type Workload = Static<typeof WorkloadSchema>;
/** What the engine admits: a Pod, or a workload that owns a pod template. */
export type AdmissionObject = Pod | Workload;

export type ContainerKind = 'container' | 'initContainer' | 'ephemeralContainer';

export interface ContainerRef {
  container: Container;
  kind: ContainerKind;
}

/** The pod spec of a Pod, or the template spec of a workload. */
export function podSpecOf(object: AdmissionObject): PodSpec {
  return object.kind === 'Pod' ? object.spec : object.spec.template.spec;
}

/** Metadata of the pod (for a workload: of its pod template, which is what the pods will carry). */
export function podMetaOf(object: AdmissionObject): ObjectMeta {
  return (object.kind === 'Pod' ? object.metadata : object.spec.template.metadata) ?? {};
}

/**
 * Every container of the spec in the order PSA visits them
 * (pod-security-admission `policy/visitor.go`): init, regular, ephemeral.
 */
export function allContainers(spec: PodSpec): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const container of spec.initContainers ?? []) out.push({ container, kind: 'initContainer' });
  for (const container of spec.containers) out.push({ container, kind: 'container' });
  for (const container of spec.ephemeralContainers ?? []) out.push({ container, kind: 'ephemeralContainer' });
  return out;
}

/** An image reference the pod makes kubelet pull: a container's image, or an image volume's reference. */
export interface PulledImage {
  image: string;
  /** `container <name>` (any kind) or `volume <name>`, for messages. */
  source: string;
  /** The pull policy as written (image volumes default like containers). */
  pullPolicy?: string;
}

/**
 * Every image reference kubelet would pull for the pod: containers, init and
 * ephemeral containers, and image volumes. A volume with `image` but no
 * reference yields `''`, which no verifier or matcher accepts.
 */
export function pulledImagesOf(spec: PodSpec): PulledImage[] {
  const out: PulledImage[] = allContainers(spec).map(({ container }) => ({
    image: container.image,
    source: `container <${container.name}>`,
    ...(container.imagePullPolicy === undefined ? {} : { pullPolicy: container.imagePullPolicy }),
  }));
  for (const v of spec.volumes ?? []) {
    if (v.image === undefined) continue;
    out.push({ image: v.image.reference ?? '', source: `volume <${v.name}>`, ...(v.image.pullPolicy === undefined ? {} : { pullPolicy: v.image.pullPolicy }) });
  }
  return out;
}

/** Every image the pod makes kubelet pull (containers and image volumes), for records. */
export function imagesOf(object: AdmissionObject): string[] {
  return pulledImagesOf(podSpecOf(object)).map((p) => p.image);
}

/** `name`, or `generateName*`, or `<unnamed>`, for messages and records. */
export function objectName(object: AdmissionObject): string {
  const meta = object.metadata;
  if (meta?.name) return meta.name;
  if (meta?.generateName) return `${meta.generateName}*`;
  return '<unnamed>';
}

export type DecodeResult = { ok: true; object: AdmissionObject } | { ok: false; reason: string };

/**
 * Checks an untrusted value against the Pod or workload shape. The reason
 * names the first few offending fields, e.g.
 * `spec.containers[0].image: should be a string, got 42`.
 */
export function decodeAdmissionObject(value: unknown): DecodeResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: `object should be a mapping, got ${describeValue(value)}` };
  }
  const kind = (value as Record<string, unknown>)['kind'];
  const schema = kind === 'Pod' ? PodSchema : (WORKLOAD_KINDS as readonly unknown[]).includes(kind) ? WorkloadSchema : undefined;
  if (schema === undefined) {
    return { ok: false, reason: `object kind should be Pod or one of ${WORKLOAD_KINDS.join(', ')}, got ${describeValue(kind)}` };
  }
  const issues = validateAgainst(schema, value);
  if (issues.length > 0) {
    const shown = issues.slice(0, 3).map((i) => `${formatPath(i.path)}: ${i.message}`);
    return { ok: false, reason: `${String(kind)} is malformed: ${shown.join('; ')}${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ''}` };
  }
  return { ok: true, object: value as AdmissionObject };
}
