/**
 * What every attack technique implements. A technique carries out the whole
 * attack, including starting the workload when the attack happens before
 * start (an attack declared in YAML with `steps` runs them instead:
 * declarative.ts), and reports what it observed: whether the attacker's change took
 * effect, why, and the evidence. Whether a component noticed is asked of
 * the node afterwards (LabNodeHandle.detections).
 *
 * A step that cannot be carried out throws (a LabError with code
 * ATTACK_*): it is an error, never a `blocked` verdict. Evidence is read
 * from the node where it can be (/proc/<pid>/root, /proc/<pid>/mountinfo);
 * a command the harness runs in the target container for its own sake goes
 * through harnessExec (techniques/common.ts) and is returned in
 * `harnessCommands`, so that an alert about it cannot earn a verdict.
 */
import type { RunningPod } from '../cri/index.ts';
import type { LabNodeHandle } from '../node/index.ts';
import type { Attack, TechniqueName, Workload } from '../spec/schemas.ts';
import type { BlockEvidence, HarnessCommand } from './outcome.ts';

export interface TechniqueContext {
  /** The node the attack runs on, as root there (any substrate). */
  node: LabNodeHandle;
  attack: Attack;
  /** Pods running in the scenario, by workload name; a technique may add to it. */
  pods: Map<string, RunningPod>;
  /** The attack's target workload, from the scenario catalog. */
  workload: Workload;
}

export interface TechniqueResult {
  /** The attacker's change took effect (the workload saw it, or the pod ran). */
  effect: boolean;
  /** One sentence: what was observed. */
  reason: string;
  evidence: Record<string, unknown>;
  /**
   * When the change did not take effect because a defence stopped it and the
   * technique saw that defence's own evidence (the kernel error its write
   * got, the mount the defence made): which defence, and what was seen.
   * Without it, or a refusal record naming the target, no effect is an error.
   */
  blockedBy?: BlockEvidence[];
  /** Identifiers of what was attacked besides the workload's pod, containers and image (a layer file, a digest). */
  subjects?: string[];
  /** Commands the harness ran to collect evidence or undo the attack (a declared attack's check, proofs, cleanup). */
  harnessCommands?: HarnessCommand[];
}

export interface Technique {
  name: TechniqueName;
  run(ctx: TechniqueContext): Promise<TechniqueResult>;
}
