/**
 * Who a node's audit daemon is, as the kernel and Docker see it: its audit
 * id names its sidecar (`integrity-lab-<id>-audit`), its audit directory
 * and its kernel-rule keys (`il:<id>:…`, kernel-rules.ts). Pure.
 *
 * - A single lab node: the lab id, as it has always been.
 * - A kind node: `<labId>.<node>`, where `<node>` is the node's container
 *   name without the cluster's `il-<labId>-` (`control-plane`, `worker`,
 *   `worker2`). The nodes of one cluster share the lab id, and the kernel's
 *   audit rules are global: `auditctl -D -k` deletes by key prefix, so each
 *   node's prefix `il:<labId>.<node>:` must not be a prefix of another
 *   node's keys. It is not: the node parts differ, and the ':' that ends
 *   each prefix stands where the other id has a name character ('.' and ':'
 *   cannot be confused, since ids never contain ':').
 */
import { labKey, parseKey, type ListedRule } from './kernel-rules.ts';

/** The audit id of a node of the kind cluster `cluster` (container name `nodeName`) in lab `labId`. */
export function kindNodeAuditId(labId: string, cluster: string, nodeName: string): string {
  const node = nodeName.startsWith(`${cluster}-`) ? nodeName.slice(cluster.length + 1) : nodeName;
  const id = `${labId}.${node}`;
  labKey(id); // rejects what cannot be a key prefix, naming the id
  return id;
}

/** A kind node container, as `docker ps` lists it: its cluster label and its name. */
export interface KindNodeContainer {
  cluster: string;
  name: string;
}

/**
 * The audit ids whose kernel rules belong to something that still exists:
 * every lab with a container (node or sidecar) and every node of a lab's
 * kind cluster that still has a container. `clusterPrefix` is the prefix of
 * the lab's cluster names (`il-`); other kind clusters are not labs.
 */
export function liveAuditIds(labIds: readonly string[], kindNodes: readonly KindNodeContainer[], clusterPrefix: string): string[] {
  const live = new Set(labIds);
  for (const n of kindNodes) {
    if (!n.cluster.startsWith(clusterPrefix)) continue;
    live.add(kindNodeAuditId(n.cluster.slice(clusterPrefix.length), n.cluster, n.name));
  }
  return [...live].sort();
}

/** Rules whose key belongs to one of these audit ids (each id's own rule and its containers'). */
export function rulesOfAuditIds(rules: readonly ListedRule[], auditIds: readonly string[]): ListedRule[] {
  const ids = new Set(auditIds);
  return rules.filter((r) => r.keys.some((k) => {
    const owner = parseKey(k)?.labId;
    return owner !== undefined && ids.has(owner);
  }));
}
