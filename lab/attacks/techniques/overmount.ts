/**
 * What the overmount techniques share: finding the container's init
 * process, reading a path as the workload sees it, and judging the outcome
 * after the watchdog (when the node has one) had its chance.
 *
 * On vanilla containerd an overmount shows in /proc/<pid>/mountinfo and
 * nothing notices (FACTS.md). The outcome is judged on what lasts: the
 * workload still reads the attacker's content after the grace period.
 * In enforce mode the watchdog stops the container, so the overmount has no
 * lasting effect (blocked); in detect mode it stays and is reported.
 */
import { LabError } from '../../errors.ts';
import { poll } from '../../wait.ts';
import type { RunningPod } from '../../cri/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { awaitWatchdogAlerts, watchdogGraceMs, type WatchdogAlert } from '../../watchdog/index.ts';
import type { TechniqueContext, TechniqueResult } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, requirePod, type AttackErrorCode } from './common.ts';

export interface Target {
  pod: RunningPod;
  containerId: string;
  /** The container's init process, in the node's pid namespace. */
  pid: number;
}

export async function targetOf(ctx: TechniqueContext): Promise<Target> {
  const pod = requirePod(ctx.pods, ctx.attack);
  const containerId = pod.containers[0]?.id;
  if (!containerId) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
  const { status, info } = await ctx.node.cri.containerStatus(containerId);
  const pid = (info.info as { pid?: number } | undefined)?.pid;
  if (status.state !== 'CONTAINER_RUNNING' || !pid) {
    throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `the container of ${pod.namespace}/${pod.name} is ${status.state} (pid ${pid ?? 'unknown'}); the attack needs it running`);
  }
  return { pod, containerId, pid };
}

/** A file as the workload reads it (through CRI exec, as the container's own processes do); the read is recorded as the harness's. */
export async function readAsWorkload(node: LabNodeHandle, containerId: string, path: string, record: HarnessCommand[]): Promise<Buffer | undefined> {
  const r = await harnessExec(node, containerId, `read ${path} as the workload`, ['cat', path], record).catch(() => undefined);
  return r && r.exitCode === 0 ? r.stdout : undefined;
}

export async function mountinfoOf(node: LabNodeHandle, pid: number): Promise<string> {
  return (await node.exec.run(['cat', `/proc/${pid}/mountinfo`])).stdout.toString();
}

export interface OvermountDone {
  target: Target;
  /** The path the workload is checked on, and what the attacker wants it to read. */
  path: string;
  payload: Buffer;
  /** What the attacker ran, for evidence. */
  command: string[];
  mountinfoBefore: string;
  /** Wall-clock ms around the attacker's command. */
  startedAt: number;
  doneAt: number;
  /** The harness's own commands in the container before the attack (a listing). */
  harnessCommands?: HarnessCommand[];
}

/**
 * Waits (bounded) for the watchdog, then decides whether the overmount took
 * lasting effect: the workload reads the payload and its container still runs.
 */
export async function judgeOvermount(ctx: TechniqueContext, done: OvermountDone): Promise<TechniqueResult> {
  const { node, workload } = ctx;
  const { target, path, payload } = done;
  const harnessCommands: HarnessCommand[] = [...(done.harnessCommands ?? [])];
  const seenRightAfter = await readAsWorkload(node, target.containerId, path, harnessCommands);
  const mountinfoAfter = await mountinfoOf(node, target.pid);
  const alerts: WatchdogAlert[] = await awaitWatchdogAlerts(node, {
    since: new Date(done.startedAt - 1000),
    timeoutMs: watchdogGraceMs(node, 'mount', workload.spec.namespace),
    predicate: (a) => a.container === target.containerId,
  });
  // Enforce mode: give the stop a moment to land before looking.
  const stopping = alerts.some((a) => a.action === 'stop');
  const stopped = await poll(async () => (await node.cri.containerStatus(target.containerId)).status, (s) => !stopping || s.state !== 'CONTAINER_RUNNING', { timeoutMs: 5_000, intervalMs: 100 });
  const state = stopped.value!;
  const running = state.state === 'CONTAINER_RUNNING';
  const seenAfterGrace = running ? await readAsWorkload(node, target.containerId, path, harnessCommands) : undefined;
  const tookEffect = seenRightAfter?.equals(payload) ?? false;
  const lasted = tookEffect && running && (seenAfterGrace?.equals(payload) ?? false);
  const finishedMs = state.finishedAt && Number(state.finishedAt) > 0 ? Number(state.finishedAt) / 1e6 : undefined;
  const first = alerts[0];
  const reason = !running
    ? `the container was stopped ${finishedMs ? `${Math.round(finishedMs - done.doneAt)} ms ` : ''}after the overmount of ${path} (${state.state}); ${tookEffect ? "the workload read the attacker's content until then" : "the workload never read the attacker's content"}: no lasting effect`
    : lasted
      ? `the workload reads the attacker's content at ${path} through the overmount`
      : `the workload does not read the attacker's content at ${path} after the overmount`;
  return {
    harnessCommands,
    effect: lasted,
    reason,
    evidence: {
      container: target.containerId,
      pid: target.pid,
      command: done.command.join(' '),
      path,
      contentRightAfter: seenRightAfter?.toString('utf8') ?? '(unreadable)',
      contentAfterGrace: seenAfterGrace?.toString('utf8') ?? `(container ${state.state})`,
      containerStateAfter: state.state,
      mountinfoBefore: done.mountinfoBefore,
      containerMountinfo: mountinfoAfter,
      watchdogAlerts: alerts,
      detectionLatencyMs: first ? first.detectedAt - done.doneAt : undefined,
    },
  };
}

/** Runs a command in the node; a failure is the attack failing, with the command and its stderr. */
export async function attackerRuns(node: LabNodeHandle, argv: string[], input?: Buffer): Promise<void> {
  const r = await node.exec.run(argv, { input });
  if (r.exitCode !== 0) {
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the attacker's command failed with exit code ${r.exitCode}: ${argv.join(' ')}\n${r.stderr.trim()}`);
  }
}
