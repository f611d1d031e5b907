/**
 * Carries out a declared attack on a started lab and judges its outcome.
 */
import { LabError } from '../errors.ts';
import type { RunningPod } from '../cri/index.ts';
import type { StartedLabNode } from '../node/index.ts';
import type { Attack, Outcome, Workload } from '../spec/schemas.ts';
import { classifyOutcome, type AttackObservation } from './outcome.ts';
import { TECHNIQUE_REGISTRY } from './techniques/index.ts';
import { declarativeTechnique } from './declarative.ts';
import type { AttackErrorCode } from './techniques/common.ts';

export interface AttackRun {
  attack: Attack;
  profile: string;
  observation: AttackObservation;
  outcome: Outcome;
  /** Expected outcome on this profile, from the attack's spec; undefined when the spec states none. */
  expected?: Outcome;
  evidence: Record<string, unknown>;
}

export async function runAttack(node: StartedLabNode, attack: Attack, workload: Workload, pods: Map<string, RunningPod>): Promise<AttackRun> {
  const technique = attack.spec.steps ? declarativeTechnique : attack.spec.technique && TECHNIQUE_REGISTRY.get(attack.spec.technique);
  if (!technique) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_FAILED',
      `attack "${attack.metadata.name}": technique "${attack.spec.technique}" is declared but not implemented; implemented: ${[...TECHNIQUE_REGISTRY.keys()].join(', ')}`,
    );
  }
  const since = new Date(Date.now() - 1000);
  const result = await technique.run({ node, attack, pods, workload });
  // Components report asynchronously (the watchdog, audit); give them the
  // attack's own grace period before asking.
  const observation: AttackObservation = {
    effect: result.effect,
    detections: await node.detections(since),
    reason: result.reason,
  };
  return {
    attack,
    profile: node.profile.metadata.name,
    observation,
    outcome: classifyOutcome(observation),
    expected: attack.spec.expected[node.profile.metadata.name],
    evidence: result.evidence,
  };
}
