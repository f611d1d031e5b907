/**
 * How root silences kernel auditing without touching the audit layer's own
 * rules, and how the daemon tells (lab/audit/node/daemon.ts, "Kernel
 * auditing silenced"):
 *
 * - switching auditing off (`auditctl -e 0`): the kernel writes a
 *   CONFIG_CHANGE record `op=set audit_enabled=0 old=1` before it stops,
 *   and `auditctl -s` then says `enabled 0`;
 * - a rule that suppresses records: any `never` rule (on the task list, no
 *   new process gets an audit context; on the exit list, no record for the
 *   syscalls it matches, since the first matching rule decides; on the
 *   filesystem list, no watch on that file system type) and any rule of the
 *   exclude list (a matching record is dropped, whatever the action). The
 *   kernel writes `op=add_rule key=… list=N` for each; the record does not
 *   say the action, so the daemon reads the lists then (`auditctl -l`).
 *
 * An `always` rule of another party only adds records and is left alone.
 * A key is whatever the adder wrote: a rule whose key carries the lab
 * prefix (KEY_PREFIX) is taken for a lab's only when it is an `always` rule
 * of the exit list, where the labs put theirs.
 */
import { KEY_PREFIX, type ListedRule } from './kernel-rules.ts';

/** The kernel's filter lists, as `list=` numbers them (include/uapi/linux/audit.h, AUDIT_FILTER_*). */
export const FILTER_LISTS: Readonly<Record<number, string>> = { 0: 'user', 1: 'task', 2: 'entry', 4: 'exit', 5: 'exclude', 6: 'filesystem', 7: 'io_uring' };

/** The syscall exit list, the only one the labs' own rules are on. */
export const EXIT_LIST = 4;

/** Whether a rule's key marks it as a lab's own (this lab's or another's on the same host). */
export function isLabKey(key: string | undefined): boolean {
  return key !== undefined && key.replace(/^"|"$/g, '').startsWith(KEY_PREFIX);
}

/** The rules in `auditctl -l` that suppress records: `never` on any list, anything on the exclude list. */
export function suppressingRules(rules: readonly ListedRule[]): ListedRule[] {
  return rules.filter((r) => {
    const rule = actionAndList(r);
    return rule !== undefined && (rule.action === 'never' || rule.list === 'exclude');
  });
}

/** Rules in `auditctl -l` that no lab set (no key with the lab prefix). */
export function foreignRules(rules: readonly ListedRule[]): ListedRule[] {
  return rules.filter((r) => !r.keys.some((k) => k.startsWith(KEY_PREFIX)));
}

/** The auditctl arguments that delete a listed rule: its own line with `-a` made `-d`. */
export function deleteArgs(rule: ListedRule): string[] {
  const words = rule.text.trim().split(/\s+/);
  if (words[0] !== '-a' || words.length < 2) throw new Error(`not an auditctl -l rule line: ${rule.text}`);
  return ['-d', ...words.slice(1)];
}

/** A listed rule's action and list (`-a never,task` → never, task). */
function actionAndList(rule: ListedRule): { action: string; list: string } | undefined {
  const m = /^-a (\w+),(\w+)/.exec(rule.text.trim());
  return m ? { action: m[1]!, list: m[2]! } : undefined;
}

/**
 * What a rule another party added to the list numbered `list` means, from
 * the lists as the daemon read them just after: `suppressing` (such rules
 * are listed now: report and remove them), `unseen` (no rule of another
 * party is on that list any more: it was added and removed before the
 * lists could be read, time enough to fork an unaudited process or run an
 * unrecorded syscall; report), or `harmless` (an `always` rule, there,
 * that only adds records).
 */
export function judgeForeignAdd(list: number, rules: readonly ListedRule[]): { verdict: 'suppressing'; rules: ListedRule[] } | { verdict: 'unseen' | 'harmless' } {
  const suppressing = suppressingRules(rules);
  if (suppressing.length > 0) return { verdict: 'suppressing', rules: suppressing };
  const name = FILTER_LISTS[list];
  const there = foreignRules(rules).some((r) => actionAndList(r)?.list === name);
  return there ? { verdict: 'harmless' } : { verdict: 'unseen' };
}
