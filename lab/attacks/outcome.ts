/**
 * What happened to an attack, from what was observed: whether the attacker's
 * change took effect, and whether any component reported it.
 */
import type { Outcome } from '../spec/schemas.ts';

import type { Detection } from '../node/component.ts';
export type { Detection };

export interface AttackObservation {
  /** The attacker's change was visible to the workload (or the pod ran). */
  effect: boolean;
  detections: Detection[];
  /** Why the effect is judged as it is, in one sentence. */
  reason: string;
}

export function classifyOutcome(observation: AttackObservation): Outcome {
  if (!observation.effect) return 'blocked';
  return observation.detections.length > 0 ? 'detected' : 'succeeded';
}
