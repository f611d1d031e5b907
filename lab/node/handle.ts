/**
 * A node of a lab, on either substrate: the single lab node
 * (StartedLabNode, lab/node/lab-node.ts) or one node of a kind cluster
 * (KindLabNode, lab/kind/cluster.ts). Integrity components, attack
 * techniques and evidence readers take this interface, so that they work on
 * a node without caring which substrate started it.
 *
 * Everything here is what root on that node has: a shell (exec), the node's
 * CRI socket, its files, and its registry. Creating workloads the way a user
 * does (through admission and, on kind, the apiserver) is the substrate's
 * job, not the node's.
 */
import type { CriClient, PodSpec, RunningPod, RunPodHooks } from '../cri/index.ts';
import type { Exec, ExecOptions, ExecResult } from '../exec.ts';
import type { BuiltImage } from '../images/index.ts';
import type { LabProfile, Workload } from '../spec/schemas.ts';
import type { Detection, NodeComponent } from './component.ts';

/** A shell line that waits until containerd answers `ctr` after a restart (30 s), then fails saying so. */
export const CTR_ANSWERS_WITHIN_30S = 'for i in $(seq 300); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo "containerd did not come back in 30 s" >&2; exit 1';

/**
 * `NAME=VALUE` words for a shell line, from variables root sets for a
 * restarted containerd; only plain names and path-like values, so that
 * nothing needs quoting (throws otherwise).
 */
export function environmentWords(environment: Readonly<Record<string, string>>): string[] {
  return Object.entries(environment).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || !/^[A-Za-z0-9_./:=,+-]*$/.test(value)) {
      throw new Error(`containerd's environment: ${JSON.stringify(`${name}=${value}`)} is not a plain NAME=VALUE (letters, digits and ./:=,+-_ only)`);
    }
    return `${name}=${value}`;
  });
}

export interface LabNodeHandle {
  /** The lab (single node or cluster) this node belongs to. */
  readonly labId: string;
  /** The node's container name (and, on kind, its Kubernetes node name). */
  readonly name: string;
  readonly profile: LabProfile;
  /** The lab's state directory on the host (private keys live under it: never in the node). */
  readonly stateDir: string;
  /** A host directory mounted at the same path in the node, for handing files to node tools. */
  readonly shareDir: string;
  /** Runs a command in the node as root. */
  readonly exec: Exec;
  /** The node's containerd, over CRI. */
  readonly cri: CriClient;
  /** The integrity components installed on this node. */
  readonly components: readonly NodeComponent[];
  /** The node's registry as the harness reaches it. */
  readonly registryUrl: string;
  /** Runs a command in the node; a non-zero exit throws, naming the command. */
  run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  readFile(path: string): Promise<Buffer>;
  /** An image reference as containerd on this node pulls it. */
  imageRef(repository: string, tag: string): string;
  /** The pause image containerd on this node starts pod sandboxes from (its CRI `sandbox` setting). */
  readonly sandboxImage: string;
  /** Builds an image from local content and pushes it to this node's registry. */
  pushImage(image: Workload['spec']['image']): Promise<BuiltImage>;
  /** The CRI pod a workload runs as on this node (its Pod object, converted as the kubelet would). */
  podSpecOf(workload: Workload): PodSpec;
  /**
   * Runs a pod straight over the node's CRI socket, as root on the node can
   * (a static pod, a compromised kubelet, anyone with the socket): no
   * admission, no apiserver, and on kind no kubelet keeping or killing it.
   */
  runCriPod(spec: PodSpec, hooks?: RunPodHooks): Promise<RunningPod>;
  /**
   * Set on a node with a kubelet (kind) while runCriPod has it stopped: the
   * kubelet kills pods it did not start, so root stops it first. Attack
   * evidence says so (lab/attacks/run.ts).
   */
  readonly kubeletStopped?: boolean;
  /**
   * Restarts the node's containerd as root would (its pid, or its systemd
   * unit) and waits until `ctr` answers again; `environment` is added to
   * its environment (and so to every shim and runtime it starts).
   */
  restartContainerd(environment?: Readonly<Record<string, string>>): Promise<void>;
  /** Everything this node's components reported since `since`. */
  detections(since: Date): Promise<Detection[]>;
}
