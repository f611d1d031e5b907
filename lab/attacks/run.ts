/**
 * Carries out a declared attack on a started lab and judges its outcome
 * (the verdict model is lab/attacks/outcome.ts).
 */
import { LabError } from '../errors.ts';
import type { RunningPod } from '../cri/index.ts';
import type { LabNodeHandle } from '../node/index.ts';
import type { Attack, ComponentName, Outcome, Workload } from '../spec/schemas.ts';
import { judgeAttack, type AttackJudgement, type AttackObservation, type AttackTarget, type Verdict } from './outcome.ts';
import { TECHNIQUE_REGISTRY } from './techniques/index.ts';
import { declarativeTechnique } from './declarative.ts';
import type { AttackErrorCode } from './techniques/common.ts';

export interface AttackRun {
  attack: Attack;
  profile: string;
  observation: AttackObservation;
  /** The verdict; `error` when no effect was observed and no defence earned `blocked`. */
  outcome: Verdict;
  /** The component that earned `blocked` or `detected`. */
  earnedBy?: ComponentName;
  judgement: AttackJudgement;
  /** Expected outcome on this profile, from the attack's spec; undefined when the spec states none. */
  expected?: Outcome;
  evidence: Record<string, unknown>;
}

/** What the attack aims at: the target workload's pod, its containers, its image, and what the technique names. */
export function attackTarget(node: Pick<LabNodeHandle, 'imageRef'>, workload: Workload, pods: ReadonlyMap<string, RunningPod>, subjects: readonly string[] = []): AttackTarget {
  const pod = pods.get(workload.metadata.name);
  return {
    pods: [`${workload.spec.namespace}/${workload.metadata.name}`],
    containerIds: pod?.containers.map((c) => c.id) ?? [],
    subjects: [node.imageRef(workload.spec.image.repository, workload.spec.image.tag), ...subjects],
  };
}

export async function runAttack(node: LabNodeHandle, attack: Attack, workload: Workload, pods: Map<string, RunningPod>): Promise<AttackRun> {
  const technique = attack.spec.steps ? declarativeTechnique : attack.spec.technique && TECHNIQUE_REGISTRY.get(attack.spec.technique);
  if (!technique) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_FAILED',
      `attack "${attack.metadata.name}": technique "${attack.spec.technique}" is declared but not implemented; implemented: ${[...TECHNIQUE_REGISTRY.keys()].join(', ')}`,
    );
  }
  const since = new Date(Date.now() - 1000);
  const result = await technique.run({ node, attack, pods, workload });
  // Components report asynchronously (the watchdog, audit); techniques wait
  // for them where they must (a grace period) before returning.
  const observation: AttackObservation = {
    effect: result.effect,
    detections: await node.detections(since),
    reason: result.reason,
    target: attackTarget(node, workload, pods, result.subjects),
  };
  if (result.blockedBy) observation.blockedBy = result.blockedBy;
  if (result.harnessCommands) observation.harnessCommands = result.harnessCommands;
  const judgement = judgeAttack(observation, { caughtBy: attack.spec.caughtBy, installed: node.profile.spec.components });
  const run: AttackRun = {
    attack,
    profile: node.profile.metadata.name,
    observation,
    outcome: judgement.verdict,
    judgement,
    expected: attack.spec.expected[node.profile.metadata.name],
    evidence: node.kubeletStopped
      ? { ...result.evidence, kubelet: "stopped on this node by root before a pod was started over CRI, as the kubelet kills pods it did not start (docs/kind.md); running pods and the defences under test do not go through it" }
      : result.evidence,
  };
  if (judgement.earnedBy) run.earnedBy = judgement.earnedBy;
  return run;
}
