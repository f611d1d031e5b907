/**
 * Carries out a declared attack on a started lab and judges its outcome.
 */
import { LabError } from '../errors.ts';
import type { RunningPod } from '../cri/index.ts';
import type { StartedLabNode } from '../node/index.ts';
import type { Attack, Outcome } from '../spec/schemas.ts';
import { tamperLayerFile } from './layer-file-tamper.ts';
import { classifyOutcome, type AttackObservation, type Detection } from './outcome.ts';
import type { AttackErrorCode } from './layer-file-tamper.ts';

export interface AttackRun {
  attack: Attack;
  profile: string;
  observation: AttackObservation;
  outcome: Outcome;
  /** Expected outcome on this profile, from the attack's spec; undefined when the spec states none. */
  expected?: Outcome;
  evidence: Record<string, unknown>;
}

/**
 * Reports from the integrity components installed on the node since the
 * attack began. A node without components (vanilla) reports nothing.
 */
async function collectDetections(node: StartedLabNode, since: Date): Promise<Detection[]> {
  return node.detections(since);
}

export async function runAttack(node: StartedLabNode, attack: Attack, pods: ReadonlyMap<string, RunningPod>): Promise<AttackRun> {
  const pod = pods.get(attack.spec.target.workload);
  if (!pod) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_TARGET_NOT_FOUND',
      `attack "${attack.metadata.name}" targets workload "${attack.spec.target.workload}", which is not running on this lab; running: ${[...pods.keys()].join(', ') || '(none)'}`,
    );
  }
  const since = new Date();
  switch (attack.spec.technique) {
    case 'layer-file-tamper': {
      const result = await tamperLayerFile(node, pod, attack);
      const observation: AttackObservation = {
        effect: result.effect,
        detections: await collectDetections(node, since),
        reason: result.effect
          ? `the container reads the attacker's bytes from ${attack.spec.target.path}`
          : `the container still reads the original ${attack.spec.target.path}`,
      };
      return {
        attack,
        profile: node.profile.metadata.name,
        observation,
        outcome: classifyOutcome(observation),
        expected: attack.spec.expected[node.profile.metadata.name],
        evidence: { ...result.evidence },
      };
    }
    default: {
      const technique: string = attack.spec.technique;
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `attack "${attack.metadata.name}": technique "${technique}" is not implemented`);
    }
  }
}
