/**
 * lab/audit: a rules engine for the Falco rules format, and pure parsers
 * for the events it judges (auditd records, alerts files).
 */
export type { AuditErrorCode, ItemKind, RulesLocation } from './errors.ts';
export type { AuditEvent, EventSource, FieldSpec, FieldType, FieldValue } from './fields.ts';
export type { Priority, RulesSource } from './loader.ts';
export type { FileSummary, PluginRequirement } from './ruleset.ts';
export type { CompiledRule, RuleExplanation, TypeSet } from './compile.ts';
export type { K8sAuditEventObject, K8sFieldSpec } from './k8saudit.ts';
export type { Explanation } from './explain.ts';
export type { Alert, EngineOptions, RuleSet, RulesEngine } from './engine.ts';
export type { ContainerInfo, ContainerMount, Enricher, ProcessContext, ProcessInfo } from './context.ts';
export type { AuditRecord, AuditRecordGroup } from './auditd.ts';

export { FALCO_LOAD_ERRORS, RulesLoadError, formatLocation } from './errors.ts';
export { SYSCALL_FIELD_CATALOGUE, falcoKnowsSyscallField } from './falco-fields.ts';
export { K8S_AUDIT_FIELDS, k8sAuditEvent, k8sAuditEvents, k8sAuditField } from './k8saudit.ts';
export { explainRule } from './explain.ts';
export { EVENT_SOURCES, LAB_FIELDS, labField } from './fields.ts';
export { PRIORITIES, parsePriority } from './loader.ts';
export { parseCondition } from './condition.ts';
export {
  AuditEngine,
  LAB_ENGINE_VERSION,
  LAB_PROVIDED_PLUGINS,
  compileRuleSet,
  formatTime,
  readRulesFiles,
} from './engine.ts';
export { applyContext, containerFields, containerStartedEvent } from './context.ts';
export {
  AuditAssembler,
  AuditRecordError,
  auditGroupToEvent,
  auditLogToEvents,
  auditTimeToRfc3339,
  parseAuditLine,
  parseAuditLog,
  ttyToDevice,
} from './auditd.ts';
export { parseAlertLine, parseAlertsJsonl } from './alerts.ts';
export { BUILTIN_RULES_PATH } from './builtin.ts';

// -- node side: event sources, the daemon, the sidecar and the node component --
export type { ContainerRuleTarget, KernelAuditStatus, KernelRule, ListedRule, SensitivePath } from './node/kernel-rules.ts';
export type { ProcessScope, ProcessRecord, ProcReader } from './node/procfs.ts';
export type { CriContainerStatus, InventoryEntry } from './node/inventory.ts';
export type {
  CommandResult,
  ContainerWatch,
  DaemonConfig,
  DaemonCounters,
  DaemonIo,
  DaemonStatus,
  ReloadResult,
  RulesSummary,
} from './node/daemon.ts';
export type { CleanupReport } from './node/daemon-main.ts';
export type { ContainerDirectory, LabEnricherOptions, Placement } from './node/enricher.ts';
export type { AuditComponentOptions, AuditTarget, AwaitAlertsOptions } from './node/component.ts';
export type { TapLine } from './node/records.ts';

export {
  DEFAULT_SENSITIVE_PATHS,
  containerKey,
  containerRules,
  labKey,
  labRules,
  parseAuditStatus,
  parseKey,
  parseRuleList,
  rootfsMountPoint,
  rulesOfLab,
  staleLabs,
} from './node/kernel-rules.ts';
export { AUDIT_RECORD_TYPES, parseTapLine, recordTypeName } from './node/records.ts';
export { ProcessTable, parseCmdline, parsePasswd, parseStat, pidsOfContainer, readProcess, scopeFromCgroup } from './node/procfs.ts';
export { inventoryEntry, inventoryEvent, nanosToRfc3339 } from './node/inventory.ts';
export { decisionToAuditEventObject, decisionToK8sAuditEvent } from './node/k8s-audit.ts';
export { AuditDaemon, RECORDS_LOST_RULE, RULES_REMOVED_RULE, WATCHDOG_STOPPED_RULE, removeLabRules } from './node/daemon.ts';
export { LabEnricher } from './node/enricher.ts';
export { readKernelAuditState, sidecarName, sidecarRunArgs } from './node/sidecar.ts';
export { kindNodeAuditId, liveAuditIds, rulesOfAuditIds } from './node/audit-id.ts';
export {
  AUDIT_COMPONENT,
  alertDetection,
  alertLogPath,
  auditAlerts,
  auditIdsOf,
  auditImageOf,
  auditTargetOf,
  auditComponent,
  auditStatus,
  awaitAuditAlerts,
  awaitAuditWatching,
  hasAudit,
  listKernelRules,
  loadAuditRules,
  recordAdmissionDecision,
} from './node/component.ts';
export { loadScenarioRules, scenarioRuleNames } from './node/scenario-rules.ts';
