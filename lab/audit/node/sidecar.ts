/**
 * The audit sidecar, seen from the host: a container from the lab's node
 * image (never pulled) in the host PID and network namespaces, because the
 * kernel accepts audit rules only from the initial PID namespace and
 * multicasts records only in the initial network namespace (FACTS.md;
 * kernel/audit.c audit_netlink_ok, kauditd_send_multicast_skb).
 *
 * Capabilities, all others dropped: AUDIT_CONTROL (rules, auditing on and
 * off), AUDIT_READ (the multicast group), SYS_PTRACE (/proc/<pid>/exe and
 * /proc/<pid>/root of other containers' processes), DAC_READ_SEARCH (their
 * files under /proc/<pid>/root), SYS_ADMIN and SYS_CHROOT (setns into the
 * node's mount namespace, where the kernel accepts tree rules on container
 * root file systems: kernel-rules.ts). Read-only root file system,
 * no-new-privileges. It carries the lab label, so lab teardown removes it.
 */
import { join } from 'node:path';
import { compileStatic } from '../../node/native.ts';
import { LabError, describeError } from '../../errors.ts';
import { removeContainer, inspectContainer, stopContainer } from '../../engine.ts';
import { containerExec, localExec, type Exec } from '../../exec.ts';
import type { AuditErrorCode } from '../errors.ts';
import { restoreHostAudit } from './host-state.ts';
import { KEY_PREFIX, labKey, parseAuditStatus, parseRuleList, rulesOfLab, staleLabs, type KernelAuditStatus } from './kernel-rules.ts';
import { AUDIT_FILES, SIDECAR_PATHS } from './layout.ts';

import { ROLE_LABEL as SIDECAR_ROLE_LABEL } from '../../node/index.ts';

export { SIDECAR_ROLE_LABEL };

export function sidecarName(labId: string): string {
  return `integrity-lab-${labId}-audit`;
}

export interface SidecarSpec {
  labId: string;
  /** Label key and value every lab container carries. */
  label: { key: string; value: string };
  /** More labels (a kind node's sidecar: its audit id). */
  labels?: Record<string, string>;
  /** integrity-lab/node:<tag>, already present in the engine. */
  image: string;
  /** Host directories mounted into the sidecar. */
  auditDir: string;
  hostStateDir: string;
  criDir: string;
}

/**
 * The `docker run` argument list (pure, for tests and evidence). With
 * `command`, a one-off container (`--rm`, no name) that runs that daemon
 * subcommand instead, e.g. `cleanup <lab>` when the sidecar is gone.
 */
export function sidecarRunArgs(spec: SidecarSpec, command?: string[]): string[] {
  return [
    'docker', 'run', ...(command ? ['--rm'] : ['-d', '--name', sidecarName(spec.labId)]),
    '--label', `${spec.label.key}=${spec.label.value}`,
    '--label', `${SIDECAR_ROLE_LABEL}=audit`,
    ...Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '--pid', 'host',
    '--network', 'host',
    '--cap-drop', 'ALL',
    '--cap-add', 'AUDIT_CONTROL',
    '--cap-add', 'AUDIT_READ',
    '--cap-add', 'SYS_PTRACE',
    '--cap-add', 'DAC_READ_SEARCH',
    '--cap-add', 'SYS_ADMIN',
    '--cap-add', 'SYS_CHROOT',
    '--security-opt', 'no-new-privileges',
    '--read-only',
    '--tmpfs', '/tmp',
    '--restart', 'no',
    '-v', `${spec.auditDir}:${SIDECAR_PATHS.root}`,
    '-v', `${spec.hostStateDir}:${SIDECAR_PATHS.host}`,
    '-v', `${spec.criDir}:${SIDECAR_PATHS.cri}`,
    '--entrypoint', 'node',
    spec.image,
    join(SIDECAR_PATHS.root, AUDIT_FILES.daemon), ...(command ?? ['run', join(SIDECAR_PATHS.root, AUDIT_FILES.config)]),
  ];
}

async function docker(exec: Exec, args: string[], what: string, timeoutMs = 60_000): Promise<string> {
  const r = await exec.run(['docker', ...args], { timeoutMs });
  if (r.exitCode !== 0) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `${what}: docker ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
  }
  return r.stdout.toString();
}

export async function startSidecar(spec: SidecarSpec, exec: Exec = localExec): Promise<string> {
  // A sidecar of the same name left by a killed run of this lab id.
  const refused = await removeContainer(sidecarName(spec.labId));
  if (refused) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `starting the audit sidecar of lab ${spec.labId}: an old one is in the way: ${refused}`);
  const args = sidecarRunArgs(spec);
  return (await docker(exec, args.slice(1), `starting the audit sidecar of lab ${spec.labId}`)).trim();
}

/** Runs a command in the sidecar; resolves whatever the exit code. */
export function sidecarExec(labId: string, argv: string[], timeoutMs = 30_000) {
  return containerExec(sidecarName(labId)).run(argv, { timeoutMs });
}

export async function stopSidecar(labId: string): Promise<void> {
  // SIGTERM: the daemon removes its rules again (idempotent) before exiting.
  await stopContainer(sidecarName(labId), 10).catch(() => undefined);
  const refused = await removeContainer(sidecarName(labId));
  if (refused) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `removing the audit sidecar of lab ${labId}: ${refused}`);
}

/** The node container's full id, its init's pid on the host, its hostname and its image. */
export async function inspectNode(name: string): Promise<{ id: string; pid: number; hostname: string; image: string }> {
  const node = await inspectContainer(name);
  if (!node) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `lab node ${name}: there is no such container`);
  if (!/^[0-9a-f]{64}$/.test(node.id) || !node.running || !(node.pid > 1)) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `lab node ${name}: expected a running container with a 64-hex id and an init pid, got id ${node.id}, running ${node.running}, pid ${node.pid}`);
  }
  return { id: node.id, pid: node.pid, hostname: node.hostname, image: node.image };
}

// ------------------------------------------------------------ audit-tap build

const TAP_SOURCE = join(import.meta.dirname, 'audit-tap.c');

/**
 * Compiles audit-tap.c statically with the host's gcc, cached by the
 * source's hash (lab/node/native.ts). The node image has no compiler; a
 * static binary runs in the sidecar whatever its libc.
 */
export async function buildAuditTap(exec: Exec = localExec): Promise<string> {
  return compileStatic(TAP_SOURCE, 'audit-tap', exec);
}

/**
 * The kernel's audit rules and `enabled` flag, read by a one-off container
 * of the node image (host PID namespace, AUDIT_CONTROL only): works when
 * no lab, and so no sidecar, is running, e.g. to check that a lab left
 * nothing behind. Labelled with `labelValue` so that a crash leaves a
 * container teardown finds.
 */
export async function readKernelAuditState(image: string, labelValue: string, exec: Exec = localExec): Promise<{ rulesText: string } & KernelAuditStatus> {
  const out = await docker(
    exec,
    ['run', '--rm', '--label', `io.integrity-lab.lab=${labelValue}`, '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'AUDIT_CONTROL',
      '--entrypoint', 'sh', image, '-c', 'auditctl -l && echo "---" && auditctl -s'],
    'reading the kernel audit rules',
  );
  const [rulesText = '', statusText = ''] = out.split('---\n');
  return { rulesText, ...parseAuditStatus(statusText) };
}

export interface ReapReport {
  /** Labs whose rules were left in the kernel though the lab is gone. */
  stale: string[];
  /** Their rules, as auditctl listed them before removal. */
  removed: string[];
  /** Kernel auditing turned back off (a lab had turned it on and no lab rule is left). */
  disabled: boolean;
  /** The kernel's backlog limit put back to this (a lab had raised it and no lab rule is left). */
  backlogRestored?: number;
}

/**
 * Removes kernel audit rules of labs that no longer exist (a lab whose
 * sidecar was killed before its cleanup, with no audit lab started since),
 * through a one-off container of the node image; with `dryRun`, only says
 * what it would remove.
 */
export async function reapKernelRules(image: string, liveLabIds: readonly string[], options: { dryRun?: boolean; hostStateDir: string; exec?: Exec }): Promise<ReapReport> {
  const exec = options.exec ?? localExec;
  const { rulesText } = await readKernelAuditState(image, 'audit-reap', exec);
  const rules = parseRuleList(rulesText);
  const stale = staleLabs(rules, liveLabIds);
  const removed = stale.flatMap((id) => rulesOfLab(rules, id).map((r) => r.text));
  let disabled = false;
  let backlogRestored: number | undefined;
  if (!options.dryRun && stale.length > 0) {
    const script = [...stale.map((id) => `auditctl -D -k '${labKey(id)}' >/dev/null`), 'auditctl -l'].join(' && ');
    const left = parseRuleList(await docker(exec, ['run', '--rm', '--label', 'io.integrity-lab.lab=audit-reap', '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'AUDIT_CONTROL', '--entrypoint', 'sh', image, '-c', script], 'removing stale kernel audit rules'));
    if (!left.some((r) => r.keys.some((k) => k.startsWith(KEY_PREFIX)))) {
      const auditctl = async (args: readonly string[]) => {
        await docker(exec, ['run', '--rm', '--label', 'io.integrity-lab.lab=audit-reap', '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'AUDIT_CONTROL', '--entrypoint', 'auditctl', image, ...args], `auditctl ${args.join(' ')}`);
        return { exitCode: 0, stdout: '', stderr: '' };
      };
      ({ disabled, backlogRestored } = await restoreHostAudit(options.hostStateDir, auditctl));
    }
  }
  return { stale, removed, disabled, ...(backlogRestored !== undefined ? { backlogRestored } : {}) };
}
