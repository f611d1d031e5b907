/**
 * The registry of implemented attack techniques. Each technique lives in its
 * own file in this folder; add yours here with one line.
 */
import type { TechniqueName } from '../../spec/schemas.ts';
import type { Technique } from '../technique.ts';
import { layerFileTamper } from './layer-file-tamper.ts';
import { layerFileTamperBeforeStart } from './layer-file-tamper-before-start.ts';
import { layerFileSwap } from './layer-file-swap.ts';
import { unsignedPull } from './unsigned-pull.ts';
import { sideLoadImport } from './side-load-import.ts';
import { upperdirWrite } from './upperdir-write.ts';
import { bundleNamespaceForge } from './bundle-namespace-forge.ts';
import { containerdRecordUpdate } from './containerd-record-update.ts';
import { containerdRecordCommand } from './containerd-record-command.ts';
import { containerdRecordHook } from './containerd-record-hook.ts';
import { containerdRecordCapabilities, containerdRecordGroups, containerdRecordNamespace, containerdRecordRlimits, containerdRecordSeccomp, containerdRecordSysctls, containerdRecordUser, containerdRecordWritableSysfs } from './containerd-record-privileges.ts';
import { localhostSeccompOvermount } from './localhost-seccomp-overmount.ts';
import { bundleMountDeclare } from './bundle-mount-declare.ts';
import { recordMountDeclare } from './record-mount-declare.ts';
import { contentStoreConfigTamper, contentStoreLayerTamper } from './content-store-tamper.ts';
import { forgedLayerMount } from './forged-layer-mount.ts';
import { imageConfigTamper } from './image-config-tamper.ts';
import { imageRetagBeforeStart } from './image-retag-before-start.ts';
import { gateConfigUnprotect } from './gate-config-unprotect.ts';
import { runtimeWrapperReplace } from './runtime-wrapper-replace.ts';
import { runtimeWrapperUnhook } from './runtime-wrapper-unhook.ts';
import { trustedRootsAddCa } from './trusted-roots-add-ca.ts';
import { watchdogRestartLaunder } from './watchdog-restart-launder.ts';
import { gateSocketHijack } from './gate-socket-hijack.ts';
import { copiedBinaryExec } from './copied-binary-exec.ts';
import { memfdExec } from './memfd-exec.ts';
import { memfdExecInside } from './memfd-exec-inside.ts';
import { compatSyscallExec } from './compat-syscall-exec.ts';
import { uringFileRead } from './uring-file-read.ts';
import { transientExecRemount } from './transient-exec-remount.ts';
import { startupShell } from './startup-shell.ts';
import { startHoldRemove } from './start-hold-remove.ts';
import { sandboxFileRewrite } from './sandbox-file-rewrite.ts';
import { runcReplace } from './runc-replace.ts';
import { layerBindReplace } from './layer-bind-replace.ts';
import { pullVerifierEmpty } from './pull-verifier-empty.ts';
import { auditctlReplace } from './auditctl-replace.ts';
import { runcPreload } from './runc-preload.ts';
import { runcEnvPreload } from './runc-env-preload.ts';
import { auditRulesDelete } from './audit-rules-delete.ts';
import { auditDaemonFreeze } from './audit-daemon-freeze.ts';
import { auditKernelDisable } from './audit-kernel-disable.ts';
import { auditNeverRule } from './audit-never-rule.ts';
import { auditRateLimit } from './audit-rate-limit.ts';
import { runcLibraryReplace } from './runc-library-replace.ts';
import { shellReplaceStartupShell, shellReplaceUngatedWrite, shellReplaceUnsignedPull } from './shell-replace.ts';
import { watchdogConfigUnwatch } from './watchdog-config-unwatch.ts';
import { watchdogKill } from './watchdog-kill.ts';
import { watchdogFreeze } from './watchdog-freeze.ts';
import { watchdogCgroupFreeze } from './watchdog-cgroup-freeze.ts';
import { watchdogCpuStarve } from './watchdog-cpu-starve.ts';
import { ctrHideTasks } from './ctr-hide-tasks.ts';
import { pauseImageSideLoad } from './pause-image-side-load.ts';
import { registryRollback, registryServeOtherSigned } from './registry-serve.ts';
// audit rules (lab/audit)
import { privilegedContainer } from './privileged-container.ts';
import { hostpathEtc } from './hostpath-etc.ts';
import { overmountNsenter } from './overmount-nsenter.ts';
import { overmountMoveMount } from './overmount-move-mount.ts';
import { overmountPrivateNamespace } from './overmount-private-namespace.ts';
import { transientOvermount } from './transient-overmount.ts';
import { overmountDirectory } from './overmount-directory.ts';
import { tmpfsOverEtc } from './tmpfs-over-etc.ts';

const implemented: Technique[] = [
  layerFileTamper,
  layerFileTamperBeforeStart,
  layerFileSwap,
  unsignedPull,
  sideLoadImport,
  upperdirWrite,
  bundleNamespaceForge,
  containerdRecordUpdate,
  containerdRecordCommand,
  containerdRecordHook,
  containerdRecordCapabilities,
  containerdRecordNamespace,
  containerdRecordWritableSysfs,
  containerdRecordUser,
  containerdRecordGroups,
  containerdRecordSysctls,
  containerdRecordRlimits,
  containerdRecordSeccomp,
  localhostSeccompOvermount,
  bundleMountDeclare,
  recordMountDeclare,
  contentStoreLayerTamper,
  contentStoreConfigTamper,
  forgedLayerMount,
  imageConfigTamper,
  imageRetagBeforeStart,
  gateConfigUnprotect,
  runtimeWrapperUnhook,
  runtimeWrapperReplace,
  trustedRootsAddCa,
  watchdogRestartLaunder,
  watchdogKill,
  watchdogFreeze,
  watchdogCgroupFreeze,
  watchdogCpuStarve,
  gateSocketHijack,
  copiedBinaryExec,
  memfdExec,
  memfdExecInside,
  compatSyscallExec,
  uringFileRead,
  transientExecRemount,
  startupShell,
  startHoldRemove,
  sandboxFileRewrite,
  runcReplace,
  layerBindReplace,
  pullVerifierEmpty,
  shellReplaceUnsignedPull,
  shellReplaceUngatedWrite,
  shellReplaceStartupShell,
  auditctlReplace,
  runcPreload,
  runcEnvPreload,
  auditRulesDelete,
  auditDaemonFreeze,
  auditKernelDisable,
  auditNeverRule,
  auditRateLimit,
  runcLibraryReplace,
  watchdogConfigUnwatch,
  ctrHideTasks,
  pauseImageSideLoad,
  registryServeOtherSigned,
  registryRollback,
  privilegedContainer,
  hostpathEtc,
  overmountNsenter,
  overmountMoveMount,
  overmountPrivateNamespace,
  transientOvermount,
  overmountDirectory,
  tmpfsOverEtc,
];

export const TECHNIQUE_REGISTRY: ReadonlyMap<TechniqueName, Technique> = new Map(implemented.map((t) => [t.name, t]));
