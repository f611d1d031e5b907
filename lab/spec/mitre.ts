/**
 * MITRE ATT&CK techniques the lab's attacks carry out (an Attack's
 * `spec.attack`): the Containers matrix first, Enterprise Linux techniques
 * where they describe the attack better. Names as ATT&CK v17 gives them.
 * An id an attack uses must be listed here, so that the report names it and
 * a typo (T1652 for T1525) fails the lint instead of a coverage view.
 */

/** `T1234` or `T1234.001`: the shape of an ATT&CK technique or sub-technique id. */
export const ATTACK_ID_PATTERN = '^T[0-9]{4}(\\.[0-9]{3})?$';

export const ATTACK_TECHNIQUES: Readonly<Record<string, string>> = {
  'T1003.008': 'OS Credential Dumping: /etc/passwd and /etc/shadow',
  T1036: 'Masquerading',
  'T1036.005': 'Masquerading: Match Legitimate Resource Name or Location',
  'T1059.004': 'Command and Scripting Interpreter: Unix Shell',
  'T1195.002': 'Supply Chain Compromise: Compromise Software Supply Chain',
  'T1204.003': 'User Execution: Malicious Image',
  T1525: 'Implant Internal Image',
  'T1553.004': 'Subvert Trust Controls: Install Root Certificate',
  T1554: 'Compromise Host Software Binary',
  T1564: 'Hide Artifacts',
  'T1562.001': 'Impair Defenses: Disable or Modify Tools',
  'T1562.006': 'Impair Defenses: Indicator Blocking',
  'T1562.012': 'Impair Defenses: Disable or Modify Linux Audit System',
  'T1565.001': 'Data Manipulation: Stored Data Manipulation',
  T1557: 'Adversary-in-the-Middle',
  'T1574.006': 'Hijack Execution Flow: Dynamic Linker Hijacking',
  T1609: 'Container Administration Command',
  T1610: 'Deploy Container',
  T1611: 'Escape to Host',
  T1620: 'Reflective Code Loading',
};

/** The technique's page on the ATT&CK site (sub-techniques live under their parent). */
export function attackTechniqueUrl(id: string): string {
  return `https://attack.mitre.org/techniques/${id.replace('.', '/')}/`;
}

/**
 * Attacks that must state `spec.attack`. Attacks added on other branches
 * join this list when their ids are filled in; once every attack has them,
 * the field becomes required in the schema and this list goes.
 */
export const ATTACKS_REQUIRING_IDS: ReadonlySet<string> = new Set([
  'running-layer-tamper-enforced',
  'app-config-blob-tamper',
  'app-layer-blob-tamper',
  'copied-shell-from-tmp',
  'copied-shell-from-shm',
  'copied-shell-from-volume',
  'fileless-shell-in-agent',
  'fileless-shell-made-in-agent',
  'running-layer-tamper-after-watchdog-killed',
  'running-layer-tamper-after-watchdog-stopped',
  'running-layer-tamper-after-watchdog-frozen',
  'running-layer-tamper-after-watchdog-starved',
  'shell-in-agent-after-audit-frozen',
  'shell-at-container-start',
  'audit-start-hold-removed',
  'overmount-in-private-namespace',
  'transient-overmount-of-agent',
  'forged-mount-on-snapshot',
  'image-config-tamper',
  'image-retag-before-start',
  'resolv-conf-rewrite-on-node',
  'start-gate-disabled-by-config',
  'start-gate-unhooked-from-containerd',
  'start-gate-wrapper-replaced',
  'start-gate-wrapper-replaced-enforced',
  'rogue-ca-in-trusted-roots',
  'watchdog-restart-after-tampering',
  'start-gate-socket-hijacked',
  'start-gate-runc-replaced',
  'start-gate-layer-bind-replaced',
  'unsigned-image-past-emptied-verifier',
  'pull-gate-shell-replaced',
  'start-gate-shell-replaced',
  'audit-start-hold-shell-replaced',
  'audit-blinded-by-auditctl',
  'start-gate-runc-preloaded',
  'start-gate-runc-env-preloaded',
  'audit-rules-deleted-from-node',
  'shell-in-agent-after-audit-disabled',
  'shell-in-agent-after-audit-never-rule',
  'shell-in-agent-after-audit-rate-limited',
  'shell-in-agent-by-32-bit-syscall',
  'copied-shell-from-tmp-after-remount-exec',
  'shadow-read-through-io-uring',
  'copied-shell-from-tmp-while-exec-able',
  'start-gate-runc-library-replaced',
  'watchdog-restart-after-config-edit',
  'side-loaded-pause-image',
  'another-signed-image-under-protected-name',
  'rollback-to-older-signed-release',
  'etc-tmpfs-resolver',
  'etc-tmpfs-resolver-enforced',
  'host-layer-tamper',
  'hostpath-etc-via-cri',
  'layer-swap-with-sidecar',
  'layer-tamper-before-start',
  'overmount-agent-directory',
  'overmount-agent-directory-enforced',
  'overmount-binary',
  'overmount-binary-enforced',
  'overmount-from-node',
  'overmount-from-node-enforced',
  'privileged-pod-via-cri',
  'rootfs-write-from-inside',
  'running-layer-tamper',
  'shadow-read',
  'shell-in-app',
  'side-loaded-unsigned-image',
  'unsigned-pull',
  'upperdir-write-from-host',
  'ungated-by-forged-bundle-namespace',
  'ungated-by-updated-containerd-record',
  'command-rewritten-in-containerd-record',
  'hook-added-in-containerd-record',
  'capabilities-added-in-containerd-record',
  'node-network-in-containerd-record',
  'writable-sysfs-in-containerd-record',
  'watchdog-restart-after-bundle-edit',
  'watchdog-restart-after-record-edit',
]);

