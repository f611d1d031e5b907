/**
 * The task bundle's config.json against containerd's record of the
 * container.
 *
 * containerd's CRI builds a container's OCI spec at CreateContainer (or
 * RunPodSandbox) and keeps it in its record of the container; when the task
 * is created it writes those bytes into the bundle as config.json, and runc
 * builds the container from that file. The file is root's to edit on the
 * node, between containerd writing it and runc reading it, or later, before
 * a defence reads it. Its CRI annotations are what say which namespace,
 * pod and container a task belongs to: a bundle that names another
 * namespace would make a protected pod look unprotected to every defence
 * that believed it (the `ungated-by-forged-bundle-namespace` attack).
 *
 * So the gates take a container's identity from containerd's record, and
 * hold the bundle to it: on `runc create` it must be the recorded spec; once
 * the start gate has rewritten it, the recorded spec with the start gate's
 * rewrite (`gatedSpec`), and nothing else.
 */
import { isDeepStrictEqual } from 'node:util';

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** The part of an OCI spec the start gate rewrites. */
export interface RewritableSpec {
  root?: { path?: string; readonly?: boolean };
  mounts?: SpecMount[];
}

/**
 * Every writable mount of a protected container gets `noexec`: the root is
 * read-only and verified, so a writable mount (the gate's /tmp, /dev and
 * /dev/shm, hostPath and emptyDir volumes, the sandbox's /etc/hosts) is the
 * only place code from no signed layer could be put, and the kernel refuses
 * to exec from it (EACCES, fs/namei.c may_open / path_noexec). runc applies
 * the flag to binds with a remount (MS_REMOUNT|MS_BIND|MS_NOEXEC). A
 * read-only mount keeps its flags: nothing can be written there from the
 * container. An `exec` option would undo `noexec` and is dropped.
 */
export function noexecWritableMounts<M extends { options?: string[] }>(mounts: readonly M[]): M[] {
  return mounts.map((m) => {
    const options = m.options ?? [];
    if (options.includes('ro')) return m;
    return { ...m, options: [...options.filter((o) => o !== 'exec' && o !== 'noexec'), 'noexec'] };
  });
}

/** The tmpfs the start gate gives a protected container on /tmp when its spec has none. */
export const GATE_TMP_MOUNT: SpecMount = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', 'size=64m'] };

/**
 * The spec as the start gate writes it for a container it allowed: a
 * read-only root, a noexec tmpfs on /tmp unless the spec mounts something
 * there, and every writable mount noexec. A pure function of the spec, so
 * that the bundle a gated container runs from can be checked against the
 * record at any later time.
 */
export function gatedSpec<S extends RewritableSpec>(spec: S): S {
  const mounts = spec.mounts ?? [];
  const withTmp = mounts.some((m) => m.destination === '/tmp') ? mounts : [...mounts, GATE_TMP_MOUNT];
  return { ...spec, root: { ...spec.root, readonly: true }, mounts: noexecWritableMounts(withTmp) };
}

/**
 * The OCI hooks a spec asks runc to run, each named by its stage, index and
 * program (`hooks.startContainer[0]: /bin/sh ["sh","-c","…"]`); empty when
 * there are none.
 *
 * A hook is a program runc runs at a stage of the container's life:
 * `startContainer` inside the container, after its root and mounts are set
 * up and before its first process; the others in the runtime's namespaces.
 * containerd's CRI puts none into a spec unless a CDI device or an NRI
 * plugin asks for one, and a protected node has neither; a hook in a
 * protected task's spec was put there by someone else, through containerd's
 * API or by editing the bundle, and a `startContainer` hook is a command
 * from no signed config run in the protected container (the
 * `hook-added-in-containerd-record` attack). So a protected task's spec has
 * none.
 */
export function hooksIn(spec: object): string[] {
  const hooks = (spec as { hooks?: unknown }).hooks;
  if (hooks === undefined || hooks === null) return [];
  if (typeof hooks !== 'object' || Array.isArray(hooks)) return [`hooks: ${shown(hooks)}`];
  const out: string[] = [];
  for (const [stage, list] of Object.entries(hooks as Record<string, unknown>)) {
    if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) continue;
    if (!Array.isArray(list)) {
      out.push(`hooks.${stage}: ${shown(list)}`);
      continue;
    }
    list.forEach((h: { path?: unknown; args?: unknown }, i) => out.push(`hooks.${stage}[${i}]: ${String(h?.path)} ${shown(h?.args ?? [])}`));
  }
  return out;
}

const shown = (value: unknown) => {
  const text = value === undefined ? 'absent' : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
};

/**
 * Where `bundle` departs from `recorded`, as JSON paths with both values
 * (`annotations["io.kubernetes.cri.sandbox-namespace"]: "default" in the
 * bundle, "kube-system" in containerd's record`); empty when they are the
 * same JSON. At most `limit` places are named.
 */
export function specDifferences(bundle: unknown, recorded: unknown, limit = 5): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (out.length >= limit || isDeepStrictEqual(a, b)) return;
    const objects = typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && Array.isArray(a) === Array.isArray(b);
    if (!objects) {
      out.push(`${path || '(the whole spec)'}: ${shown(a)} in the bundle, ${shown(b)} in containerd's record`);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) {
      // Name the entries added or removed, not the whole list.
      const only = (xs: unknown[], ys: unknown[]) => xs.filter((x) => !ys.some((y) => isDeepStrictEqual(x, y)));
      const added = only(a, b).map((x) => `${shown(x)} in the bundle only`);
      const removed = only(b, a).map((y) => `${shown(y)} in containerd's record only`);
      out.push(`${path}: ${a.length} entries in the bundle, ${b.length} in containerd's record: ${[...added, ...removed].slice(0, limit).join(', ')}`);
      return;
    }
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const step = Array.isArray(a) ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path ? '.' : ''}${k}` : `[${JSON.stringify(k)}]`;
      walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}${step}`);
    }
  };
  walk(bundle, recorded, '');
  return out;
}
