/**
 * The verdict model: what happened to an attack, and which defence earned
 * the verdict. A verdict other than `succeeded` must be earned:
 *
 * - `detected`: the attacker's change took effect and a component named in
 *   the attack's `caughtBy` reported something that names the attacked
 *   container, pod, image or layer file.
 * - `blocked`: the change did not take effect and a `caughtBy` component that
 *   is installed on the node left its own evidence: a refusal record or a
 *   stopped container naming the target (a Detection whose action is
 *   `refuse` or `stop`), or evidence the technique observed and attributes
 *   to it (the kernel error the write got, the read-only root it mounted).
 * - `error`: no effect and no such evidence. The attack step failed, or the
 *   defence that stopped it is not the one the attack names; either way the
 *   harness cannot say the attack was blocked.
 *
 * Anything else a component reported (another container, another component,
 * a process of the harness's own evidence commands) is kept as `ignored`,
 * for the report.
 */
import type { ComponentName, Outcome } from '../spec/schemas.ts';

import type { Detection } from '../node/component.ts';
export type { Detection };

/** `error` is never an expected outcome: it fails the scenario with its reason. */
export type Verdict = Outcome | 'error';

/** What the attack was aimed at, so that a report can be tied to it. */
export interface AttackTarget {
  /** Pods as `namespace/name`. */
  pods: string[];
  /** Full CRI container ids; a 12-character prefix (Falco's short id) counts too. */
  containerIds: string[];
  /** Image references, layer files, digests: any other identifier the technique attacked. */
  subjects: string[];
}

/**
 * The blocking defence's own evidence, as a technique observed it: the
 * kernel error the write got, the mount the defence made. A technique only
 * states this when the observation is something that defence does.
 */
export interface BlockEvidence {
  component: ComponentName;
  /** One sentence, e.g. `the write got EROFS: the start gate mounts the rootfs read-only with no upperdir`. */
  evidence: string;
}

/** A command the harness ran in the lab for its own sake: a check of the effect, a proof, a cleanup. */
export interface HarnessCommand {
  name: string;
  /** Where it ran: `node`, `container-namespaces` or `container`. */
  in: string;
  argv: string[];
  /** When it was started and when its answer came, ISO 8601. */
  from: string;
  to: string;
}

export interface AttackObservation {
  /** The attacker's change was visible to the workload (or the pod ran). */
  effect: boolean;
  /** Every report of every component since the attack began. */
  detections: Detection[];
  /** Why the effect is judged as it is, in one sentence. */
  reason: string;
  target: AttackTarget;
  /** Evidence the technique observed of a defence stopping it. */
  blockedBy?: BlockEvidence[];
  /** The harness's own commands; reports about their processes do not count. */
  harnessCommands?: HarnessCommand[];
}

export interface AttackJudgement {
  verdict: Verdict;
  /** The component that earned a `blocked` or `detected` verdict; undefined otherwise. */
  earnedBy?: ComponentName;
  /** The evidence that earned it (a detection's message, or the technique's block evidence). */
  evidence?: string;
  /** One sentence for reports and assertion messages. */
  reason: string;
  /** Reports that count: from a `caughtBy` component, naming the target, not about the harness's own commands. */
  counted: Detection[];
  /** Reports that did not count, each with why. */
  ignored: { detection: Detection; why: string }[];
}

export interface JudgeContext {
  /** The attack's `spec.caughtBy`. */
  caughtBy: readonly ComponentName[];
  /** Names of the components installed on the node. */
  installed: readonly string[];
}

/** What a component did: refused or stopped (evidence of a block), or only alerted. */
export function actionOf(detection: Detection): 'alert' | 'refuse' | 'stop' {
  if (detection.action) return detection.action;
  const data = detection.data as { action?: unknown; outcome?: unknown } | undefined;
  if (data?.action === 'refuse' || data?.action === 'stop') return data.action;
  if (data?.outcome === 'denied') return 'refuse';
  return 'alert';
}

function leaves(value: unknown, out: Set<string>, depth = 0): Set<string> {
  if (depth > 6) return out;
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) leaves(v, out, depth + 1);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) leaves(v, out, depth + 1);
  return out;
}

/**
 * Whether a report names the target: a field equal to one of its container
 * ids (or their 12-character prefix), subjects, or a `namespace` and `pod`
 * pair of it; or its message naming `namespace/pod` or a container id.
 * Fields are compared whole, so `app` does not match `app-2`.
 */
export function namesTarget(detection: Detection, target: AttackTarget): boolean {
  const fields = leaves(detection.data, new Set());
  for (const id of target.containerIds) {
    if (fields.has(id) || fields.has(id.slice(0, 12)) || detection.message.includes(id.slice(0, 12))) return true;
  }
  for (const s of target.subjects) if (fields.has(s)) return true;
  const data = (detection.data ?? {}) as Record<string, unknown>;
  const nested = (data['output_fields'] ?? {}) as Record<string, unknown>;
  const ns = data['namespace'] ?? nested['k8s.ns.name'];
  const pod = data['pod'] ?? data['name'] ?? nested['k8s.pod.name'];
  for (const p of target.pods) {
    if (`${String(ns)}/${String(pod)}` === p) return true;
    if (new RegExp(`(^|[\\s(])${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}([\\s):,]|$)`).test(detection.message)) return true;
  }
  return false;
}

/** Slack around a harness command's start and end: audit times are the kernel's, to the millisecond. */
const HARNESS_SLACK_MS = 50;

/**
 * The harness command a report is about, if any: an audit alert raised
 * while that command ran, about a process with that command's arguments
 * (proc.cmdline is the process name and its arguments, argv[0] left out).
 * Reports without a process (the watchdog's, the gates') are never one.
 */
export function harnessCommandOf(detection: Detection, commands: readonly HarnessCommand[]): HarnessCommand | undefined {
  const fields = ((detection.data ?? {}) as { output_fields?: Record<string, unknown> }).output_fields;
  const cmdline = fields?.['proc.cmdline'];
  if (typeof cmdline !== 'string') return undefined;
  const time = Date.parse(detection.time);
  const space = cmdline.indexOf(' ');
  const args = space < 0 ? '' : cmdline.slice(space + 1);
  return commands.find(
    (c) => time >= Date.parse(c.from) - HARNESS_SLACK_MS && time <= Date.parse(c.to) + HARNESS_SLACK_MS && args === c.argv.slice(1).join(' '),
  );
}

/** A report about the attack itself: it names the target and is not about one of the harness's own commands. */
export function aboutTheAttack(detection: Detection, observation: Pick<AttackObservation, 'target' | 'harnessCommands'>): boolean {
  return namesTarget(detection, observation.target) && !harnessCommandOf(detection, observation.harnessCommands ?? []);
}

/**
 * Why a refusal is the defence's own failure rather than a finding, if it
 * is: a gate decision marked `internalError`, or an admission denial whose
 * every deny is a policy that could not be evaluated. Such a refusal is
 * fail-closed and right to make, but it earns no verdict: a broken attack
 * tool (a helper that errors inside the gate) would otherwise read as
 * `blocked`.
 */
export function internalFailureOf(detection: Detection): string | undefined {
  const data = (detection.data ?? {}) as { internalError?: unknown; violations?: { mode?: unknown; internalError?: unknown }[] };
  if (data.internalError === true) return `${detection.component} refused because of its own internal error, not a finding about the attack`;
  const denies = (data.violations ?? []).filter((v) => v.mode === 'deny');
  if (denies.length && denies.every((v) => v.internalError === true)) return `${detection.component} denied because a policy could not be evaluated, not because of a finding about the attack`;
  return undefined;
}

/** Judges an observation against the attack's `caughtBy`. Pure: every input is given. */
export function judgeAttack(observation: AttackObservation, ctx: JudgeContext): AttackJudgement {
  const ignored: AttackJudgement['ignored'] = [];
  const counted: Detection[] = [];
  for (const d of observation.detections) {
    const harness = harnessCommandOf(d, observation.harnessCommands ?? []);
    if (harness) ignored.push({ detection: d, why: `it is about the harness's own ${harness.name} command (${harness.argv.join(' ').slice(0, 120)}), not the attack` });
    else if (!(ctx.caughtBy as readonly string[]).includes(d.component)) ignored.push({ detection: d, why: `${d.component} is not in caughtBy [${ctx.caughtBy.join(', ')}]` });
    else if (!namesTarget(d, observation.target)) ignored.push({ detection: d, why: 'it does not name the attacked container, pod, image or layer' });
    else {
      const internal = internalFailureOf(d);
      if (internal) ignored.push({ detection: d, why: internal });
      else counted.push(d);
    }
  }
  if (observation.effect) {
    const first = counted[0];
    if (first) return { verdict: 'detected', earnedBy: first.component as ComponentName, evidence: first.message, reason: observation.reason, counted, ignored };
    return { verdict: 'succeeded', reason: observation.reason, counted, ignored };
  }
  const refusal = counted.find((d) => actionOf(d) !== 'alert');
  if (refusal) return { verdict: 'blocked', earnedBy: refusal.component as ComponentName, evidence: refusal.message, reason: observation.reason, counted, ignored };
  const own = (observation.blockedBy ?? []).find((b) => ctx.caughtBy.includes(b.component) && ctx.installed.includes(b.component));
  if (own) return { verdict: 'blocked', earnedBy: own.component, evidence: own.evidence, reason: observation.reason, counted, ignored };
  const claimed = (observation.blockedBy ?? []).map((b) => `${b.component} (${ctx.installed.includes(b.component) ? 'not in caughtBy' : 'not installed'})`);
  return {
    verdict: 'error',
    reason:
      `the attack had no effect (${observation.reason}), but no defence in caughtBy [${ctx.caughtBy.join(', ')}] left evidence of blocking it` +
      (counted.length ? `; ${counted.length} alert(s) named the target without refusing or stopping it` : '') +
      (claimed.length ? `; block evidence from ${claimed.join(', ')} does not count` : '') +
      ': the attack step failed, or the wrong defence stopped it',
    counted,
    ignored,
  };
}
