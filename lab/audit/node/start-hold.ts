/**
 * The start hold: a container's first process runs only after the audit
 * daemon has set that container's kernel rules.
 *
 * Without it, rules are set when the CRI inventory first sees a container
 * running (a 200 ms poll), so an entrypoint that runs a shell, or anything
 * a container does in its first moment, is not audited. CRI cannot help:
 * containerd creates the task (runc create) and starts it (runc start)
 * inside one StartContainer call, so no CRI state or event falls between
 * the two.
 *
 * Between them, the container's init process exists (runc init, in the
 * container's cgroup and namespaces, waiting on exec.fifo) and its rootfs is
 * mounted in the node: everything the rules need. So the node's runtime
 * wrapper (lab/gates RUNTIME_WRAPPER, which containerd's runc shim calls
 * for every runc command) runs HOLD_SCRIPT before `runc start <id>` when the
 * daemon has installed it: the script drops `<id>.req` in START_HOLD_DIR
 * and waits for `<id>.ack`, which the daemon writes once the container's
 * rules are set (or it has said why not). The daemon reads the directory
 * through /proc/<node pid>/root, sees a request from an inotify watch on it
 * (a 250 ms poll is the fallback), and the script looks for the answer
 * every 10 ms: a start waits for the rules, not for two 50 ms polls.
 *
 * The hold fails closed: no answer within HOLD_TIMEOUT_S, or a request
 * that cannot be posted, refuses the start (runc start exits 1), because a
 * container that starts unaudited is what the hold exists to prevent. The
 * start gate (lab/gates/start-hold-gate.ts) runs the script for the
 * wrapper, from bytes it checked against the pin the host took at lab
 * start, and refuses a protected container's start when the script is
 * missing or altered: root who removes or empties it does not reopen the
 * window. The daemon removes the script when it stops cleanly and leaves
 * STOPPED_NOTE saying so; protected starts are then refused until it runs
 * again, other containers start unaudited. A node without the runtime
 * wrapper (a profile with audit but no start gate) has no hold: there the
 * 200 ms window stays.
 */

/** In the node. */
export const START_HOLD_DIR = '/run/integrity-lab/audit-hold';
export const HOLD_SCRIPT_PATH = `${START_HOLD_DIR}/hold`;
export const HOLD_TIMEOUT_S = 15;
/** Written by the daemon's clean stop (its time and why), removed when it offers the hold again: the reason a refused start gives. */
export const STOPPED_NOTE = `${START_HOLD_DIR}/stopped`;

const HEX64 = /^[0-9a-f]{64}$/;

/** The script the runtime wrapper runs as `hold <container id>` before `runc start` (parameters for tests). */
export function holdScript(dir = START_HOLD_DIR, timeoutS = HOLD_TIMEOUT_S): string {
  return `#!/bin/sh
# integrity-lab audit start hold (lab/audit/node/start-hold.ts): asks the
# audit daemon to set this container's kernel rules and waits for its
# answer, so that the container's first process is audited.
d=${dir}
id=$1
case "$id" in *[!0-9a-f]*|'') echo "integrity-lab audit: not a container id: $id; start refused" >&2; exit 1 ;; esac
# true, not the special built-in ":": a failed redirection of a special built-in ends the shell before it can say why
if ! true > "$d/$id.req"; then
  echo "integrity-lab audit: cannot post the start hold's request $d/$id.req; start of container $id refused so that it does not run unaudited" >&2
  exit 1
fi
i=0
while [ ! -e "$d/$id.ack" ]; do
  i=$((i + 1))
  if [ "$i" -gt ${timeoutS * 100} ]; then
    rm -f "$d/$id.req"
    echo "integrity-lab audit: the audit daemon did not set the rules of container $id within ${timeoutS} s; start refused so that it does not run unaudited" >&2
    exit 1
  fi
  sleep 0.01
done
rm -f "$d/$id.req" "$d/$id.ack"
exit 0
`;
}

export const HOLD_SCRIPT = holdScript();

/** Container ids waiting in the hold: the `<id>.req` entries of the directory that have no `<id>.ack` yet. */
export function pendingHolds(entries: readonly string[]): string[] {
  const names = new Set(entries);
  const out: string[] = [];
  for (const n of entries) {
    if (!n.endsWith('.req')) continue;
    const id = n.slice(0, -4);
    if (HEX64.test(id) && !names.has(`${id}.ack`)) out.push(id);
  }
  return out.sort();
}

/** What the daemon answers a hold with (the file's content; the script only waits for it to exist). */
export interface HoldAnswer {
  id: string;
  /** Rules set for the container before its start. */
  rules: number;
  /** Rules not set, and why; or why the id needs none (a sandbox, a container CRI does not know). */
  skipped: string[];
  time: string;
}
