/**
 * lab/audit: a rules engine for the Falco rules format, and pure parsers
 * for the events it judges (auditd records, alerts files).
 */
export type { AuditErrorCode, ItemKind, RulesLocation } from './errors.ts';
export type { AuditEvent, EventSource, FieldSpec, FieldType, FieldValue } from './fields.ts';
export type { Priority, RulesSource } from './loader.ts';
export type { FileSummary, PluginRequirement } from './ruleset.ts';
export type { CompiledRule, TypeSet } from './compile.ts';
export type { Alert, EngineOptions, RuleSet, RulesEngine } from './engine.ts';
export type { ContainerInfo, ContainerMount, Enricher, ProcessContext, ProcessInfo } from './context.ts';
export type { AuditRecord, AuditRecordGroup } from './auditd.ts';

export { RulesLoadError, formatLocation } from './errors.ts';
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
