/**
 * Where things are: the lab's audit directory (on the host
 * `<stateDir>/audit`, in the sidecar `/lab-audit`), shared by the host side
 * and the daemon so that neither guesses the other's paths.
 */

/** Mount points inside the sidecar. */
export const SIDECAR_PATHS = {
  /** The lab's audit directory (bind mount of <stateDir>/audit). */
  root: '/lab-audit',
  /** Host-wide audit state shared by all labs: who turned auditing on (bind mount of <STATE_ROOT>/.audit-host). */
  host: '/lab-audit-host',
  /** The node's containerd socket directory (bind mount of <stateDir>/run). */
  cri: '/lab-cri',
} as const;

/** Files below the lab's audit directory. */
export const AUDIT_FILES = {
  config: 'config.json',
  daemon: 'bin/audit-daemon.mjs',
  proto: 'bin/proto/api.proto',
  tap: 'bin/audit-tap',
  /** Adds a tree rule from the node's mount namespace, with no program of the node (native/audit-rule.c). */
  rule: 'bin/audit-rule',
  /** Rules files the daemon loads, in name order: 00-… built-in, 50-… the scenario's. */
  rules: 'rules',
  /** Falco JSON alerts, one per line. */
  alerts: 'alerts.jsonl',
  /** The records of the lab's events, in auditd's text format (replay: `audit eval --audit-log`). */
  records: 'audit.log',
  /** Daemon state (tap ready, counters, containers and their kernel rules, rules in force). */
  status: 'status.json',
  /** Host → daemon: { generation, files } asks for a rules reload. */
  request: 'control/request.json',
  /** Daemon → host: the ReloadResult of the last request. */
  result: 'control/result.json',
  /**
   * Host → daemon: the lab is being torn down, and the harness's own cleanup
   * is about to remove the lab's kernel rules while its containers still run.
   * Those removals are not an attack (`Audit rules of a container removed`):
   * the daemon neither alerts on them nor sets the rules again. Only the host
   * writes this directory; the node does not mount it.
   */
  stopping: 'control/stopping',
  /** Host → daemon: admission decisions, one JSON { record, object? } per line (k8s_audit source). */
  k8sAudit: 'k8s-audit.jsonl',
  log: 'daemon.log',
} as const;

/** The containerd socket as the daemon reaches it. */
export const SIDECAR_CRI_SOCKET = `${SIDECAR_PATHS.cri}/containerd.sock`;

/** Host-wide files in SIDECAR_PATHS.host. */
export const HOST_FILES = {
  /** Present while auditing is on because a lab turned it on; holds the state before. */
  enabledMarker: 'enabled-by-integrity-lab.json',
  /** Present while the kernel's backlog limit is the lab's because a lab raised it; holds the limit before. */
  backlogMarker: 'backlog-raised-by-integrity-lab.json',
  lock: 'lock',
} as const;
