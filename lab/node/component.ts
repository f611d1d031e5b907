/**
 * An integrity component installed on a lab node: files copied in before the
 * node starts, containerd configuration it needs, and work after start.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { LabNodeHandle } from './handle.ts';
import type { PodSpec } from '../cri/index.ts';

/** A report from an integrity component: an alert, or a refusal it made. */
export interface Detection {
  /** The component that reported, e.g. `watchdog`. */
  component: string;
  message: string;
  /** When it was reported. */
  time: string;
  /** The raw alert or decision, for evidence. */
  data?: unknown;
  /**
   * `refuse` or `stop` when the report is the component's own evidence of
   * blocking (a refusal record, a container it stopped); `alert` otherwise.
   * Unset: read from `data.action` / `data.outcome` (lab/attacks/outcome.ts).
   */
  action?: 'alert' | 'refuse' | 'stop';
}

export interface NodeFile {
  /** Either inline content or a host file to copy. */
  content?: string;
  source?: string;
  target: string;
  mode?: number;
}

export interface NodePreparation {
  files: NodeFile[];
  /** TOML appended under [plugins] of the node's containerd config. */
  containerdPlugins: string[];
  /** Options of containerd's runc runtime (one TOML table, shared by all components and the substrate). */
  runcOptions?: Record<string, string | boolean>;
  /**
   * What must be in place before any container starts where the harness
   * does not create the containers itself (the kubelet on a kind node starts
   * the control plane at boot): systemd units started before the kubelet,
   * and commands run once before systemd starts. The lab node does the same
   * in afterStart, which must therefore accept finding it done.
   */
  boot?: NodeBoot;
}

export interface NodeBoot {
  /** systemd units, enabled for multi-user.target. */
  units: { name: string; content: string }[];
  /** Commands run in order, as root, before systemd starts. */
  commands: string[][];
}

export interface PrepareContext {
  stateDir: string;
  /** PEM of the lab's root CA: the node's trust anchor. */
  trustedRootsPem: string;
}

/** What an admission component answered for a pod, as kube-apiserver would report it. */
export interface AdmissionAnswer {
  allowed: boolean;
  /** The denial message, e.g. `[verify-image-signatures] Image signature verification failed: …`. */
  reason?: string;
  warnings: string[];
  /** The raw AdmissionReview response or dispatcher result, for evidence. */
  data?: unknown;
}

export interface NodeComponent {
  name: string;
  prepare(ctx: PrepareContext): Promise<NodePreparation>;
  afterStart?(node: LabNodeHandle): Promise<void>;
  /**
   * When afterStart runs relative to the other components' (runAfterStart):
   * lower first; components of the same order start concurrently. Default 0.
   */
  startOrder?: number;
  /** What the component reported since `since` (alerts, refusals). */
  detections?(node: LabNodeHandle, since: Date): Promise<Detection[]>;
  /**
   * Admission: called for every pod the harness creates through the
   * API-server path (LabNodeHandle.startWorkload), before anything reaches
   * CRI. Node-level attackers bypass it by calling CRI directly. `object`
   * is the core/v1 Pod the apiserver would hold (with the fields CRI cannot
   * carry, such as host ports and probes).
   */
  admitPod?(node: LabNodeHandle, pod: PodSpec, object?: V1Pod): Promise<AdmissionAnswer>;
  /** Stop what afterStart started (sidecars, daemons) before the node is removed. */
  beforeStop?(node: LabNodeHandle): Promise<void>;
}

/**
 * Runs each component's afterStart on a node: in ascending startOrder,
 * concurrently within one order (the daemons mostly wait on the node, so
 * starting them side by side saves wall time). Every afterStart of an order
 * is settled before the next order starts or an error is thrown, so a
 * failure never leaves one still running while the caller removes the node.
 */
export async function runAfterStart(components: readonly NodeComponent[], start: (component: NodeComponent) => Promise<void>): Promise<void> {
  const orders = [...new Set(components.map((c) => c.startOrder ?? 0))].sort((a, b) => a - b);
  for (const order of orders) {
    const results = await Promise.allSettled(components.filter((c) => (c.startOrder ?? 0) === order && c.afterStart).map(start));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
