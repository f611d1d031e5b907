/**
 * What a container's root filesystem is made of, read from the container's
 * own mountinfo and the node's mount table.
 */
import { dirname } from 'node:path';
import type { RunningPod } from '../cri/index.ts';
import type { LabNodeHandle } from './handle.ts';
import { parseMountinfo as parseEntries, rootLowerdirs, type MountinfoEntry } from '../watchdog/mountinfo.ts';

/** What node-level inspection needs of a node, on either substrate: a lab node or one node of a kind cluster. */
export type NodeAccess = Pick<LabNodeHandle, 'cri' | 'exec' | 'readFile'>;

/** A mountinfo line as the watchdog's parser reads it, with per-mount and superblock options joined. */
export type MountEntry = MountinfoEntry & {
  /** Per-mount options (field 6) and superblock options, joined. */
  options: string[];
};

/** Parses /proc/<pid>/mountinfo with the one parser (lab/watchdog/mountinfo.ts), options joined. */
export function parseMountinfo(text: string): MountEntry[] {
  return parseEntries(text).map((e) => ({ ...e, options: [...e.mountOptions, ...e.superOptions] }));
}

export interface LayerMount {
  /** The overlay lowerdir: snapshots/N/fs. */
  lowerdir: string;
  /** The node's mount on that lowerdir, if any. */
  mount?: MountEntry;
  /** snapshots/N/layer.erofs exists as a regular file. */
  layerFileExists: boolean;
  layerFile: string;
}

export interface RootfsReport {
  containerMountinfo: string;
  nodeMountinfo: string;
  root?: MountEntry;
  layers: LayerMount[];
  upperdir?: string;
}

export async function inspectRootfs(node: NodeAccess, pod: RunningPod, container = 0): Promise<RootfsReport> {
  const id = pod.containers[container]?.id;
  if (!id) throw new Error(`pod ${pod.name} has no container ${container}`);
  const containerMountinfo = (await node.cri.execSync(id, ['cat', '/proc/self/mountinfo'])).stdout.toString();
  const nodeMountinfo = (await node.readFile('/proc/self/mountinfo')).toString();
  const root = parseMountinfo(containerMountinfo).find((m) => m.mountPoint === '/');
  const nodeMounts = parseMountinfo(nodeMountinfo);
  const layers: LayerMount[] = [];
  for (const lowerdir of rootLowerdirs(containerMountinfo)) {
    const layerFile = `${dirname(lowerdir)}/layer.erofs`;
    const exists = (await node.exec.run(['test', '-f', layerFile])).exitCode === 0;
    layers.push({ lowerdir, mount: nodeMounts.find((m) => m.mountPoint === lowerdir), layerFileExists: exists, layerFile });
  }
  const upper = root?.options.find((o) => o.startsWith('upperdir='));
  return { containerMountinfo, nodeMountinfo, root, layers, upperdir: upper?.slice('upperdir='.length) };
}
