/**
 * Attack (T1620 Reflective Code Loading, T1059.004 Unix Shell): a process of
 * a protected container makes its own anonymous memory file, as an
 * exploited program in the image would (no root on the node needed for
 * that): in the container's pid namespace it asks for an executable memfd
 * (MFD_EXEC), then for a plain one, copies a shell in and runs it by its
 * /proc/self/fd path. That execve is seen by no audit rule: the
 * per-container exec rule is scoped by the rootfs tree, which the memfd is
 * not in, and it is not an execveat.
 *
 * As for memfd-exec, the lab's images carry no interpreter that could call
 * memfd_create, so root on the node plays the process: native/memfd-exec.c
 * with --inside enters the container's cgroups and namespaces first, and
 * only then makes the memfd (the bytes are the node's busybox, as an
 * attacker would have downloaded them).
 *
 * What must stop it: the start gate, which sets vm.memfd_noexec = 2 in a
 * system-tier container's pid namespace before its first process runs
 * (lab/gates/start-hold-gate.ts). The kernel then refuses MFD_EXEC and seals
 * every memfd non-executable, and execve gets EACCES. The blocking evidence
 * is that error with the seal, and the gate's own start decision for the
 * container saying it set the namespace. Any other failure of the tool is
 * the attack failing, an error.
 */
import { START_DECISION_LOG, type StartDecision } from '../../gates/start-hold-gate.ts';
import { awaitAuditAlerts } from '../../audit/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique, TechniqueResult } from '../technique.ts';
import { runMemfdTool } from './memfd-exec.ts';

/** The start gate's `runc start` decisions for a container (START_DECISION_LOG on its node). */
export async function startDecisionsFor(node: LabNodeHandle, containerId: string): Promise<StartDecision[]> {
  const r = await node.exec.run(['cat', START_DECISION_LOG]);
  if (r.exitCode !== 0) return [];
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.includes(containerId))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StartDecision];
      } catch {
        return [];
      }
    })
    .filter((d) => d.id === containerId);
}

/**
 * What the tool's run says (native/memfd-exec.c prints each step on stderr;
 * 126 is a refused execve): `refused` when execve got EACCES, and the start
 * gate's blocking evidence when the kernel had sealed the memfd
 * non-executable in a namespace the gate's own start decision set. Any
 * other failure is the attack failing: `tried` false.
 */
export function judgeMemfdRun(exitCode: number, stderr: string, decisions: readonly StartDecision[]): { tried: boolean; blockedBy?: NonNullable<TechniqueResult['blockedBy']> } {
  const refused = exitCode === 126 && /execve \/proc\/self\/fd\/\d+: Permission denied/.test(stderr);
  if (exitCode !== 0 && !refused) return { tried: false };
  const gateSet = decisions.find((d) => d.memfdNoexec === 'set' && d.action === 'allow');
  const seal = stderr.match(/^memfd-exec: (memfd mode .*\(F_SEAL_EXEC\))$/m)?.[1];
  if (!refused || !gateSet || !seal) return { tried: true };
  return {
    tried: true,
    blockedBy: [{
      component: 'start-gate',
      evidence: `execve of the memory file got EACCES: the kernel sealed it non-executable (${seal}) in a pid namespace where the start gate set vm.memfd_noexec = 2 before the container's first process (decision at ${gateSet.time}: ${gateSet.reason})`,
    }],
  };
}

export const memfdExecInside: Technique = {
  name: 'memfd-exec-inside',
  async run(ctx) {
    const { payload, target, command, r, stdout, stderr, effect, since } = await runMemfdTool(ctx, ['--inside']);
    const { node } = ctx;
    const decisions = await startDecisionsFor(node, target.containerId);
    const { tried, blockedBy } = judgeMemfdRun(r.exitCode, stderr, decisions);
    if (!tried) throw new Error(`the memory-file shell could not be tried in ${target.pod.namespace}/${target.pod.name} (exit ${r.exitCode}): ${stderr.trim() || 'no output'}`);
    return {
      ...(blockedBy ? { blockedBy } : {}),
      effect,
      reason: effect
        ? `a shell the container made in a memory file and ran by /proc/self/fd ran "${payload}" in ${target.pod.namespace}/${target.pod.name}: exit 0`
        : `the container's memory-file shell could not run in ${target.pod.namespace}/${target.pod.name}: ${stderr.trim().split('\n').pop()}`,
      evidence: { command, exitCode: r.exitCode, stdout, stderr, startDecisions: decisions, auditAlerts: await awaitAuditAlerts(node, since) },
    };
  },
};
