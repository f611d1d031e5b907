/**
 * What every attack technique implements. A technique carries out the whole
 * attack, including starting the workload when the attack happens before
 * start (an attack declared in YAML with `steps` runs them instead:
 * declarative.ts), and reports what it observed: whether the attacker's change took
 * effect, why, and the evidence. Whether a component noticed is asked of
 * the node afterwards (StartedLabNode.detections).
 */
import type { RunningPod } from '../cri/index.ts';
import type { StartedLabNode } from '../node/index.ts';
import type { Attack, TechniqueName, Workload } from '../spec/schemas.ts';

export interface TechniqueContext {
  node: StartedLabNode;
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
}

export interface Technique {
  name: TechniqueName;
  run(ctx: TechniqueContext): Promise<TechniqueResult>;
}
