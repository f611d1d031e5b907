/**
 * Declared attacks: an Attack whose `steps` are shell commands run on the
 * node, in the target container's namespaces or inside the container, with
 * a declared `check` of the effect and a `cleanup` that always runs. A
 * security engineer adds a technique in YAML, as with Falco's
 * event-generator suites or Atomic Red Team tests.
 *
 *   try     steps, in order; the first that exits non-zero ends them
 *           check, if declared (whether or not every step ran)
 *           effect: every `expect` of the steps and the check holds
 *   finally cleanup, every command, even when a step or the check threw
 *
 * A command is an argv (`run`), executed as it is, or a POSIX sh `script`
 * (on the node only; the loader refuses one elsewhere). In the container
 * and in its namespaces only argvs run, so every process audit sees there
 * is one the attack named: the harness adds no shell of its own. A script gets the
 * attack's parameters as environment variables, an argv gets them
 * substituted into its elements; never spliced into script text, so a
 * payload with quotes stays a payload.
 *
 * The check, the proofs and the cleanup are the harness's own commands: each
 * is recorded with its argv and when it ran (HarnessCommand), and the judge
 * does not count an alert about a process of one of them (outcome.ts).
 */
import { createHash } from 'node:crypto';
import { RECORDS_LOST_RULE, auditStatus, awaitAuditAlerts, awaitAuditWatching, hasAudit } from '../audit/index.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../watchdog/index.ts';
import { LabError, describeError } from '../errors.ts';
import type { LabNodeHandle } from '../node/index.ts';
import type { Attack, DeclaredBlockSpec, StepCheckSpec, StepCommandSpec, StepPlace } from '../spec/schemas.ts';
import type { BlockEvidence, HarnessCommand } from './outcome.ts';
import type { Technique, TechniqueResult } from './technique.ts';
import { requirePod, type AttackErrorCode } from './techniques/common.ts';

/** The variables every command sees. */
export const STEP_VARIABLES = ['TARGET_PATH', 'PAYLOAD', 'POD', 'NAMESPACE', 'CONTAINER_ID', 'CONTAINER_PID'] as const;
export type StepVariables = Record<(typeof STEP_VARIABLES)[number], string>;

export interface StepOutput {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs one argv in one place: the narrow handle a declared attack gets. */
export interface StepShell {
  run(place: StepPlace, argv: readonly string[]): Promise<StepOutput>;
}

export interface StepRecord {
  name: string;
  in: StepPlace;
  /** What was executed (a script as the `sh -c` that runs it). */
  argv: string[];
  /** When it was started and when its answer came, ISO 8601. */
  from: string;
  to: string;
  exitCode?: number;
  stdout?: string;
  /** With `evidence: digest`: the output's size and hash instead of the output. */
  stdoutBytes?: number;
  stdoutSha256?: string;
  stderr?: string;
  /** The command could not be run at all (the error's message). */
  error?: string;
}

/**
 * `sh -c` with the variables passed as positional parameters and exported
 * by a fixed prelude: the values never become script text.
 */
export function shellArgv(script: string, variables: StepVariables): string[] {
  const assign = STEP_VARIABLES.map((name, i) => `${name}="$${i + 1}"`).join(' ');
  const prelude = `${assign}; export ${STEP_VARIABLES.join(' ')}; shift ${STEP_VARIABLES.length}\n`;
  return ['sh', '-c', prelude + script, 'sh', ...STEP_VARIABLES.map((name) => variables[name])];
}

/** What a declared command executes: its `run` with the variables substituted, or its `script` under `sh -c`. */
export function commandArgv(command: Pick<StepCommandSpec, 'run' | 'script'>, variables: StepVariables): string[] {
  if (command.run) return command.run.map((arg) => expand(arg, variables));
  if (command.script !== undefined) return shellArgv(command.script, variables);
  // The loader refuses such a command; this guards a DeclaredAttack built in code.
  throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', 'a declared command needs run (an argv) or script (POSIX sh)');
}

/** A StepShell over a started lab node and its target container. */
export function nodeStepShell(node: LabNodeHandle, target: { containerId: string; containerPid: string }): StepShell {
  return {
    async run(place, argv) {
      if (place === 'container') {
        const r = await node.cri.execSync(target.containerId, [...argv]);
        return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr.toString() };
      }
      if (place === 'container-namespaces') {
        if (!target.containerPid) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', 'the target container has no running process to enter');
        return node.exec.run(['nsenter', '-t', target.containerPid, '-m', '-u', '-i', '-n', '-p', '--', ...argv]);
      }
      return node.exec.run([...argv]);
    },
  };
}

function expand(text: string, variables: StepVariables): string {
  return text.replace(/\$\{?(TARGET_PATH|PAYLOAD|POD|NAMESPACE|CONTAINER_ID|CONTAINER_PID)\}?/g, (_, name: keyof StepVariables) => variables[name]);
}

type StepExpectSpec = NonNullable<StepCommandSpec['expect']>;

/** The conditions of `expect` that `output` does not meet (none: the attack took effect, as far as this command shows). */
export function unmetExpectations(expect: StepExpectSpec, output: StepOutput, variables: StepVariables): string[] {
  const unmet: string[] = [];
  if (expect.exitCode !== undefined && output.exitCode !== expect.exitCode) unmet.push(`exit code ${output.exitCode}, expected ${expect.exitCode}`);
  if (expect.stdout !== undefined) {
    const wanted = expand(expect.stdout, variables);
    if (output.stdout.toString() !== wanted) unmet.push(`output ${JSON.stringify(output.stdout.toString().slice(0, 200))}, expected ${JSON.stringify(wanted)}`);
  }
  if (expect.stdoutNotEmpty === true && output.stdout.length === 0) unmet.push('no output, expected some');
  return unmet;
}

type Command = Pick<StepCommandSpec, 'name' | 'in' | 'script' | 'run' | 'expect' | 'evidence'>;

async function runCommand(shell: StepShell, command: Command, variables: StepVariables, options: { throwOnError?: boolean } = {}): Promise<{ record: StepRecord; output?: StepOutput }> {
  const argv = commandArgv(command, variables);
  const from = new Date().toISOString();
  const base = { name: command.name, in: command.in, argv };
  let output: StepOutput;
  try {
    output = await shell.run(command.in, argv);
  } catch (err) {
    // A step the attacker could not even start (the container was stopped) is a failed step.
    if (options.throwOnError) throw err;
    return { record: { ...base, from, to: new Date().toISOString(), error: describeError(err) } };
  }
  const to = new Date().toISOString();
  const shown: Partial<StepRecord> =
    command.evidence === 'digest'
      ? { stdoutBytes: output.stdout.length, stdoutSha256: createHash('sha256').update(output.stdout).digest('hex') }
      : { stdout: output.stdout.toString() };
  return { record: { ...base, from, to, exitCode: output.exitCode, ...shown, stderr: output.stderr }, output };
}

export interface DeclaredAttack {
  name: string;
  steps: readonly StepCommandSpec[];
  check?: StepCheckSpec;
  cleanup?: readonly StepCommandSpec[];
  blockedBy?: readonly DeclaredBlockSpec[];
}

/**
 * Runs a declared attack with a shell and judges its effect from the
 * declared expectations. Free of any lab: tests drive it with a fake shell.
 */
export async function runDeclaredSteps(shell: StepShell, attack: DeclaredAttack, variables: StepVariables): Promise<TechniqueResult> {
  const steps: StepRecord[] = [];
  const proofs: StepRecord[] = [];
  const cleanup: StepRecord[] = [];
  let check: StepRecord | undefined;
  let judged: Pick<TechniqueResult, 'effect' | 'reason' | 'blockedBy'>;
  try {
    const unmet: string[] = [];
    let failed: StepRecord | undefined;
    for (const step of attack.steps) {
      if (failed) {
        if (step.expect) unmet.push(`step "${step.name}" did not run`);
        continue;
      }
      const { record, output } = await runCommand(shell, step, variables);
      steps.push(record);
      if (step.expect) unmet.push(...(output ? unmetExpectations(step.expect, output, variables) : [record.error!]).map((u) => `step "${step.name}": ${u}`));
      if (!output || output.exitCode !== 0) failed = record;
    }
    if (attack.check) {
      // A check that cannot run proves nothing either way: its error ends the attack (after the cleanup).
      const ran = await runCommand(shell, { name: 'check', ...attack.check }, variables, { throwOnError: true });
      check = ran.record;
      unmet.push(...unmetExpectations(attack.check.expect, ran.output!, variables).map((u) => `check: ${u}`));
    }
    const blockedBy = await blockEvidence(shell, attack.blockedBy ?? [], steps, variables, proofs);
    const why = failed ? `step "${failed.name}" failed (${failed.error ?? `exit ${failed.exitCode}: ${failed.stderr?.trim() ?? ''}`})` : 'every step ran';
    judged = {
      effect: unmet.length === 0,
      reason: unmet.length === 0 ? `attack "${attack.name}": ${why}, and took effect as declared` : `attack "${attack.name}": ${why}; no effect: ${unmet.join('; ')}`,
      ...(blockedBy.length ? { blockedBy } : {}),
    };
  } finally {
    // Whatever happened above, every cleanup command runs; a failing one is recorded, not thrown.
    for (const command of attack.cleanup ?? []) cleanup.push((await runCommand(shell, command, variables)).record);
  }
  const harness = [...(check ? [check] : []), ...proofs, ...cleanup];
  return {
    ...judged,
    evidence: { steps, ...(check ? { check } : {}), ...(proofs.length ? { proofs } : {}), cleanup },
    harnessCommands: harness.map((r): HarnessCommand => ({ name: r.name, in: r.in, argv: r.argv, from: r.from, to: r.to })),
  };
}

/**
 * A declared block counts when its step failed with the defence's error and
 * its proof (if any) shows the defence's mechanism in place.
 */
async function blockEvidence(shell: StepShell, blocks: readonly DeclaredBlockSpec[], steps: readonly StepRecord[], variables: StepVariables, proofs: StepRecord[]): Promise<BlockEvidence[]> {
  const out: BlockEvidence[] = [];
  for (const block of blocks) {
    const step = steps.find((s) => s.name === block.step);
    if (!step || step.exitCode === undefined || step.exitCode === 0 || !step.stderr?.includes(block.stderr)) continue;
    let proof = '';
    if (block.proof) {
      const ran = await runCommand(shell, { name: `proof of ${block.component}`, ...block.proof }, variables);
      proofs.push(ran.record);
      if (!ran.output || unmetExpectations(block.proof.expect, ran.output, variables).length > 0) continue;
      proof = `; ${ran.output.stdout.toString().trim().slice(0, 300)}`;
    }
    out.push({ component: block.component, evidence: `step "${step.name}" failed with "${block.stderr}"${proof}` });
  }
  return out;
}

function declared(attack: Attack): DeclaredAttack {
  const { steps, check, cleanup, blockedBy } = attack.spec;
  if (!steps) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": a declared attack needs spec.steps`);
  return { name: attack.metadata.name, steps, ...(check ? { check } : {}), ...(cleanup ? { cleanup } : {}), ...(blockedBy ? { blockedBy } : {}) };
}

/**
 * The technique of every attack with `steps`. Like the TypeScript
 * techniques that act in a container, it lets the audit layer watch the
 * container first and gives it its grace period after (both no-ops
 * without audit), so that an alert is not missed for timing.
 */
export const declarativeTechnique: Pick<Technique, 'run'> = {
  async run({ node, attack, pods }) {
    const spec = declared(attack);
    const pod = requirePod(pods, attack);
    const container = pod.containers[0];
    if (!container) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
    const { info } = await node.cri.containerStatus(container.id);
    const pid = (info['info'] as { pid?: number } | undefined)?.pid;
    const variables: StepVariables = {
      TARGET_PATH: attack.spec.target.path ?? '',
      PAYLOAD: attack.spec.payload ?? '',
      POD: pod.name,
      NAMESPACE: pod.namespace,
      CONTAINER_ID: container.id,
      CONTAINER_PID: pid ? String(pid) : '',
    };
    await awaitAuditWatching(node, container.id);
    const since = new Date();
    const result = await runDeclaredSteps(nodeStepShell(node, { containerId: container.id, containerPid: variables.CONTAINER_PID }), spec, variables);
    const auditAlerts = await awaitAuditAlerts(node, since);
    // No alert within the grace period: what the audit daemon saw, for whoever reads why.
    const auditSaw = !auditAlerts.some((a) => a.rule !== RECORDS_LOST_RULE) && hasAudit(node) ? await auditDiagnostics(node, container.id) : undefined;
    // An attack that names the watchdog gets its longest mount period: a remount raises no mount event and waits for the full scan.
    const watchdogAlerts = (attack.spec.caughtBy as readonly string[]).includes('watchdog')
      ? await awaitWatchdogAlerts(node, { since, timeoutMs: watchdogGraceMs(node, 'remount', pod.namespace), predicate: (a) => a.container === container.id })
      : [];
    return { ...result, evidence: { ...result.evidence, auditAlerts, ...(auditSaw ? { auditSaw } : {}), ...(watchdogAlerts.length > 0 ? { watchdogAlerts } : {}) } };
  },
};

/** The audit daemon's counters, its watch of the container and the last events it placed; why it could not be read, otherwise. */
async function auditDiagnostics(node: LabNodeHandle, containerId: string): Promise<Record<string, unknown>> {
  try {
    const status = await auditStatus(node);
    return { counters: status.counters, watch: status.containers.find((c) => c.id === containerId) ?? null, recentPlacements: status.recentPlacements.slice(-15) };
  } catch (err) {
    return { unreadable: describeError(err) };
  }
}
