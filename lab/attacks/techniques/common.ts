/** Small helpers shared by attack techniques. */
import { LabError } from '../../errors.ts';
import type { RunningPod } from '../../cri/index.ts';
import type { Attack } from '../../spec/schemas.ts';

export type AttackErrorCode = 'ATTACK_TARGET_NOT_FOUND' | 'ATTACK_PAYLOAD_TOO_LONG' | 'ATTACK_FAILED' | 'ATTACK_SPEC_INCOMPLETE';

export function requirePath(attack: Attack): string {
  const path = attack.spec.target.path;
  if (!path) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": technique ${attack.spec.technique} needs spec.target.path`);
  return path;
}

export function requirePayload(attack: Attack): string {
  const payload = attack.spec.payload;
  if (!payload) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": technique ${attack.spec.technique} needs spec.payload`);
  return payload;
}

/** The running pod of the attack's target workload. */
export function requirePod(pods: ReadonlyMap<string, RunningPod>, attack: Attack): RunningPod {
  const pod = pods.get(attack.spec.target.workload);
  if (!pod) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_TARGET_NOT_FOUND',
      `attack "${attack.metadata.name}" targets workload "${attack.spec.target.workload}", which is not running; running: ${[...pods.keys()].join(', ') || '(none)'}`,
    );
  }
  return pod;
}
