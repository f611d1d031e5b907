/**
 * lab/watchdog: the runtime mount watchdog (docs/watchdog.md).
 *
 * - On the node: a daemon that watches each container's mount namespace
 *   against the mount set its OCI spec implies, re-verifies the layer files
 *   in use against their signed root hashes under a budget, stops containers
 *   in enforce mode and releases a stopped container's leftover mounts.
 * - For the harness: the node component, alerts as data, and helpers to
 *   wait for, read and restart it.
 * - The pure core: deriveExpectation (expected mount set) and diffMounts.
 */
export type { WatchdogErrorCode } from './errors.ts';
export type { WatchdogConfig, WatchdogMode, WatchdogSettings, NotifyPreference } from './config.ts';
export type { WatchdogAlert, ActivityRecord, ActivityKind, NotifyMode, ScanTrigger } from './alerts.ts';
export type { MountinfoEntry } from './mountinfo.ts';
export type { OciSpec, ExpectedMount, MountExpectation, RootfsExpectation, LayerRef, DeriveContext } from './expected.ts';
export type { MountFinding, FindingReason, DiffContext, PathKind } from './diff.ts';
export type { DaemonStatus } from './daemon.ts';
export type { WatchdogComponent } from './component.ts';
export type { NamespaceHolder } from './leftovers.ts';

export { parseMountinfo, unescapeMountinfo, namespaceRoot, bindIdentity, nodePathOf } from './mountinfo.ts';
export { deriveExpectation, deriveMounts, deriveRootfs, classifyLowerdir } from './expected.ts';
export { diffMounts, FINDING_REASONS } from './diff.ts';
export { planRelease, findHolders } from './leftovers.ts';
export { ReadBudget, Semaphore } from './budget.ts';
export { resolveConfig, parseWatchdogConfig, modeFor, DEFAULTS as WATCHDOG_DEFAULTS, ALERT_LOG, ACTIVITY_LOG, STATUS_FILE } from './config.ts';
export { parseJsonLines, alertsSince, formatAlert } from './alerts.ts';
export {
  watchdogComponent,
  watchdogOf,
  requireWatchdog,
  watchdogAlerts,
  watchdogActivity,
  watchdogStatus,
  awaitWatchdogAlerts,
  awaitWatchdogActivity,
  awaitTrustDecision,
  restartWatchdog,
  watchdogGraceMs,
  readAlerts,
  readActivity,
  readStatus,
  daemonPid,
  startDaemon,
  stopDaemon,
} from './component.ts';
export { mountNodeTmpfs, writeNodeFile, nodeDiskUsage, holdNamespace, restartContainer, containerPid } from './fixtures.ts';
export type { DiskUsage } from './fixtures.ts';
