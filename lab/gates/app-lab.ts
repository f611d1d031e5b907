/**
 * The harness's side of the application tier: which tier each workload ran
 * under (from the start gate's decision log), and the faults the tier must
 * fail closed on. Used by steps/app-integrity.steps.ts and bench/.
 */
import type { RunningPod } from '../cri/index.ts';
import type { LabNodeHandle } from '../node/index.ts';
import { APP_CHECKER_PATH } from './app-checker.ts';
import type { GateDecision } from './runtime-gate.ts';
import { PULL_RECORD_PATH } from './pull-record.ts';

const DECISION_LOG = '/var/log/integrity-lab/gate-decisions.jsonl';

export interface WorkloadTier {
  workload: string;
  namespace: string;
  pod: string;
  container: string;
  /** `system`, `application` or `none`; `none` as well on a node without a start gate. */
  tier: string;
  /** The rule that chose the tier, or why there is none. */
  rule: string;
  action?: GateDecision['action'];
  reason?: string;
}

/** The start gate's decisions, oldest first (empty on a node without one). */
export async function startGateDecisions(node: LabNodeHandle): Promise<(GateDecision & { id?: string })[]> {
  const r = await node.exec.run(['cat', DECISION_LOG]);
  if (r.exitCode !== 0) return [];
  return r.stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as GateDecision & { id?: string });
}

/** The tier each pod's first container ran under, for the report. */
export async function workloadTiers(node: LabNodeHandle, pods: ReadonlyMap<string, RunningPod>): Promise<WorkloadTier[]> {
  const gated = (node.profile.spec.components as readonly string[]).includes('start-gate');
  const decisions = gated ? await startGateDecisions(node) : [];
  return [...pods].map(([workload, pod]) => {
    const container = pod.containers[0]?.id ?? '';
    const d = decisions.filter((x) => x.id === container).pop();
    const base = { workload, namespace: pod.namespace, pod: pod.name, container };
    if (!gated) return { ...base, tier: 'none', rule: `profile "${node.profile.metadata.name}" has no start gate` };
    if (!d) return { ...base, tier: 'unknown', rule: `the start gate logged no decision for container ${container}` };
    return { ...base, tier: d.tier ?? 'unknown', rule: d.tierRule ?? '', action: d.action, reason: d.reason };
  });
}

export type AppCheckFault = 'reference-unreadable' | 'no-digest' | 'checker-crash';
export const APP_CHECK_FAULTS: readonly AppCheckFault[] = ['reference-unreadable', 'no-digest', 'checker-crash'];

/**
 * Breaks what the application check depends on, as a failing disk, an
 * image brought in around containerd's verifier, or a broken install would:
 * - `reference-unreadable`: the pull record is no longer JSON;
 * - `no-digest`: the record forgets `image` (as if it had been imported);
 * - `checker-crash`: the checker process dies by SIGSEGV before a verdict.
 */
export async function injectAppCheckFault(node: LabNodeHandle, fault: AppCheckFault, image: string): Promise<string> {
  switch (fault) {
    case 'reference-unreadable':
      await node.run(['sh', '-c', `mkdir -p $(dirname ${PULL_RECORD_PATH}) && printf '{"truncated' > ${PULL_RECORD_PATH}`]);
      return `${PULL_RECORD_PATH} overwritten with 11 bytes that are not JSON`;
    case 'no-digest': {
      const script = `const f=process.argv[1],r=JSON.parse(require('fs').readFileSync(f,'utf8'));delete r[process.argv[2]];require('fs').writeFileSync(f,JSON.stringify(r))`;
      await node.run(['node', '-e', script, PULL_RECORD_PATH, image]);
      return `${image} removed from ${PULL_RECORD_PATH}`;
    }
    case 'checker-crash':
      await node.run(['sh', '-c', `mkdir -p $(dirname ${APP_CHECKER_PATH}) && printf "process.kill(process.pid, 'SIGSEGV');\\n" > ${APP_CHECKER_PATH}`]);
      return `${APP_CHECKER_PATH} replaced by a program that dies by SIGSEGV`;
  }
}
