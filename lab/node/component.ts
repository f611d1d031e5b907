/**
 * An integrity component installed on a lab node: files copied in before the
 * node starts, containerd configuration it needs, and work after start.
 */
import type { StartedLabNode } from './lab-node.ts';

/** A report from an integrity component: an alert, or a refusal it made. */
export interface Detection {
  /** The component that reported, e.g. `watchdog`. */
  component: string;
  message: string;
  /** When it was reported. */
  time: string;
  /** The raw alert or decision, for evidence. */
  data?: unknown;
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
}

export interface PrepareContext {
  stateDir: string;
  /** PEM of the lab's root CA: the node's trust anchor. */
  trustedRootsPem: string;
}

export interface NodeComponent {
  name: string;
  prepare(ctx: PrepareContext): Promise<NodePreparation>;
  afterStart?(node: StartedLabNode): Promise<void>;
  /** What the component reported since `since` (alerts, refusals). */
  detections?(node: StartedLabNode, since: Date): Promise<Detection[]>;
}
