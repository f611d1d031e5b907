/**
 * The start gate's side of the audit start hold (issue 11 §4 and §5,
 * T1562.001 Impair Defenses). The audit daemon offers the hold by writing
 * its script into the node (lab/audit/node/start-hold.ts); a container's
 * first process must wait until its audit rules are set. Root on the node
 * who deletes or empties that script, or makes its directory unwritable,
 * would otherwise reopen the unaudited window at container start with no
 * trace: the wrapper used to run the script only when it was there, and the
 * script gave up when it could not post its request.
 *
 * So `runc start` goes through the gate daemon, which decides from what the
 * host pinned at lab start, not from the file the attacker edits:
 *
 * - the gate configuration (pinned, pins.ts) says that this node's profile
 *   runs the audit component (`startHold`), and the pins hold the sha256 of
 *   the script the audit daemon writes;
 * - the gate runs the hold from the bytes it read and checked against that
 *   pin (never the path again), so an altered script is refused, not run;
 * - for a protected container (a workload container in the system or the
 *   application tier), a missing or altered script, or a hold that fails
 *   (its request cannot be posted, no answer in time) refuses the start,
 *   with a decision record naming the container and the reason
 *   (START_DECISION_LOG).
 *
 * A hold is expected only once the audit daemon has offered it: on a kind
 * node the kubelet starts kube-system's static pods before the lab's audit
 * sidecar runs. The gate latches the first time it finds the pinned script
 * in place (in memory, and in ARMED_PATH for its own restarts); from then
 * on a missing script refuses protected starts.
 *
 * The audit daemon's clean stop removes the script and leaves a note
 * (STOPPED_NOTE): protected containers then do not start until it runs
 * again, and their refusal quotes the note; unprotected containers start
 * unaudited, as on a node without the audit component.
 *
 * Trust boundary: root who removes the script, removes ARMED_PATH and
 * restarts the gate daemon gets protected containers started before the
 * hold is offered again; three steps instead of one, as for the pins. Pod
 * sandboxes (pause containers) are never held: the audit daemon has no
 * rules to set for them.
 *
 * Before the hold, on every node with the start gate, a system-tier
 * container's pid namespace gets `vm.memfd_noexec = 2` (`layer-bind
 * memfd-noexec`, the pinned helper): no process of the container can then
 * run code from an anonymous memory file (T1620), the one place left that
 * is in no signed layer and under no mount flag once the root is read-only
 * and every writable mount noexec. Between `runc create` and `runc start`
 * the container's init exists and waits, so nothing of the container has
 * run yet. A protected start whose namespace cannot be set is refused; a
 * kernel without the sysctl (before Linux 6.3) is said in the decision.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeError } from '../errors.ts';
import type { GateConfig } from './config.ts';
import { isPinRefusal, pinNow, pinnedProgramOf, type DefenceReader, type PinnedProgram } from './pins.ts';
import { checkCriIdentity, CRI_ANNOTATIONS, CRI_CONTAINERD_NAMESPACE, parseRuncArgs, type GateDecision } from './runtime-gate.ts';
import { askedEarly, type CriIdentitySource } from '../cri/identity.ts';
import type { CreatedTasks } from './created-tasks.ts';
import { gatedSpec, specDifferences, type RewritableSpec } from './bundle-spec.ts';
import type { ContainerdRecords, RecordedSpec } from './containerd-records.ts';
import { tierOf } from './tiers.ts';

/**
 * The start gate's `runc start` decisions, one JSON line each: apart from
 * the `create` decisions (GATE_DECISION_LOG), which say how a container was
 * admitted, so that readers of those see one decision per container.
 */
export const START_DECISION_LOG = '/var/log/integrity-lab/start-decisions.jsonl';
/** The gate's latch: the hold has been offered on this node (its own restarts keep it). */
export const ARMED_PATH = '/run/integrity-lab/start-hold-armed';
/** Where containerd's runc shim keeps a task's bundle: `<root>/<namespace>/<id>/config.json`. */
export const TASK_BUNDLES = '/run/containerd/io.containerd.runtime.v2.task';

/** `gates.json` `startHold`: the profile runs the audit component, whose hold the gate runs before `runc start`. */
export interface StartHoldSettings {
  /** The hold script the audit daemon writes into the node; its sha256 is in the gate pins. */
  script: string;
  /** The note the audit daemon's clean stop leaves beside it. */
  stoppedNote: string;
}

export interface StartDeps {
  /** Reads against the pins (pins.ts pinnedReader). */
  readDefence: DefenceReader;
  /** A file's text, or undefined when it cannot be read. */
  readText(path: string): string | undefined;
  /** Runs the hold script's bytes (`sh -c <script> hold <id>`); throws a pin refusal when the shell is not the pinned one. */
  run(script: Buffer, id: string): Promise<{ code: number; stderr: string }>;
  armed: { get(): boolean; set(): void };
  clock(): Date;
  /** `layer-bind memfd-noexec PID` from the pinned helper: exit 0 set, 4 the kernel has no such sysctl; throws a pin refusal when the helper is not the pinned one. */
  memfdNoexec(pid: string): Promise<{ code: number; stderr: string }>;
  /** containerd's records (the gate daemon's connection): a CRI task's identity, and the spec its bundle must still hold. */
  records?: Pick<ContainerdRecords, 'recordedSpec'>;
  /** CRI's own state of a workload container's pod, which the record must name (lab/cri/identity.ts). */
  cri?: CriIdentitySource;
  /** What the start gate established at each task's create, shared with the runtime gate (created-tasks.ts). */
  created?: CreatedTasks;
}

/** What the start gate did to a system-tier container's pid namespace: `set` (vm.memfd_noexec = 2) or `unavailable` (the kernel has no such sysctl). */
export type MemfdNoexec = 'set' | 'unavailable';

export type StartDecision = GateDecision & { id: string; start: true; holdMs?: number; memfdNoexec?: MemfdNoexec; initPid?: number };

/** The hold script's bytes, checked against its pin; throws a pin refusal or the read error. */
function pinnedScript(settings: StartHoldSettings, deps: StartDeps): Buffer {
  const bytes = deps.readDefence(settings.script);
  if (bytes.length === 0) throw new Error(`${settings.script} is empty`);
  return bytes;
}

/** Latches when the pinned script is in place; true once latched. */
export function observeHold(settings: StartHoldSettings | undefined, deps: StartDeps): boolean {
  if (!settings) return false;
  if (deps.armed.get()) return true;
  try {
    pinnedScript(settings, deps);
  } catch {
    return false;
  }
  deps.armed.set();
  return true;
}

/** The `--root` runc was given (containerd: `/run/containerd/runc/<namespace>`). */
function runcRoot(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') return argv[i + 1];
    if (argv[i]!.startsWith('--root=')) return argv[i]!.slice('--root='.length);
  }
  return undefined;
}

/**
 * Decides a `runc start`: undefined when there is nothing to decide (another
 * command, a sandbox, an unprotected container on a node without the audit
 * hold); otherwise the decision, after closing memory-file execution in a
 * system-tier container's pid namespace and running the hold when one is
 * due. Never throws.
 */
export async function gateStart(argv: readonly string[], config: GateConfig | Error, deps: StartDeps): Promise<StartDecision | undefined> {
  const inv = parseRuncArgs(argv);
  if (inv.command !== 'start' || !inv.id) return undefined;
  const id = inv.id;
  const time = deps.clock().toISOString();
  if (config instanceof Error) return { time, id, start: true, action: 'refuse', reason: `the gate configuration is unusable, so every start is refused: ${describeError(config)}` };
  // The shim passes `--log <bundle>/log.json`; otherwise the bundle is found from `--root`.
  const namespace = (runcRoot(argv) ?? '/k8s.io').split('/').filter(Boolean).pop()!;
  const bundle = inv.logFile?.endsWith('/log.json') ? dirname(inv.logFile) : `${TASK_BUNDLES}/${namespace}/${id}`;
  const bundleConfig = deps.readText(`${bundle}/config.json`);
  let bundleSpec: { annotations?: Record<string, string> } | undefined;
  try {
    bundleSpec = bundleConfig === undefined ? undefined : (JSON.parse(bundleConfig) as { annotations?: Record<string, string> });
  } catch {
    // judged below as a container whose bundle cannot be read
  }
  // The task's identity is containerd's word (bundle-spec.ts): the bundle was
  // rewritten by the start gate at create and is root's to edit since.
  // CRI is asked beside containerd's record, on the bundle's word on what the task is; the decision takes nothing from that word.
  const criTask = namespace === CRI_CONTAINERD_NAMESPACE && deps.records !== undefined;
  // What this daemon established at the task's create, if it saw it (created-tasks.ts): nothing to ask again.
  const created = criTask ? deps.created?.take(id) : undefined;
  const early = criTask && !created && deps.cri && bundleSpec?.annotations?.[CRI_ANNOTATIONS.containerType] === 'container' ? askedEarly(deps.cri, id, { request: false }) : undefined;
  let recorded: RecordedSpec | undefined = created?.recorded;
  if (criTask && deps.records && !recorded) {
    try {
      recorded = await deps.records.recordedSpec(id);
    } catch (err) {
      return { time, id, start: true, action: 'refuse', reason: `cannot compare the bundle ${bundle} with containerd's record of container ${id}, so it does not start: ${describeError(err)}` };
    }
  }
  const annotations: Record<string, string> = (recorded ?? bundleSpec)?.annotations ?? {};
  const type = annotations[CRI_ANNOTATIONS.containerType];
  if (type === 'sandbox') return undefined;
  const base: StartDecision = {
    time,
    id,
    start: true,
    action: 'allow',
    container: annotations[CRI_ANNOTATIONS.containerName],
    namespace: annotations[CRI_ANNOTATIONS.namespace],
    pod: annotations[CRI_ANNOTATIONS.podName],
    reason: '',
  };
  // Not a CRI workload container: nothing of the gate's or the audit daemon's to do.
  const known = recorded !== undefined || bundleConfig !== undefined;
  if (known && type !== 'container') return undefined;
  const cri = early ?? deps.cri;
  if (created) {
    if (created.identity) Object.assign(base, { namespace: created.identity.namespace, pod: created.identity.pod, container: created.identity.container });
  } else if (recorded && cri) {
    const { refusal } = await checkCriIdentity(base, id, annotations, cri);
    if (refusal) return refusal;
  }
  const tier = known ? tierOf(config, base.namespace ?? '') : undefined;
  // A bundle that cannot be read cannot be shown to be unprotected.
  const isProtected = tier === undefined || tier.tier !== 'none';
  if (tier) Object.assign(base, { tier: tier.tier, tierRule: tier.rule });
  if (recorded && tier && tier.tier !== 'none') {
    // What the start gate wrote at create (its rewrite of the recorded spec,
    // system tier) or left (application tier), and nothing since.
    const expected = tier.tier === 'system' ? gatedSpec(recorded as RecordedSpec & RewritableSpec) : recorded;
    const edits = specDifferences(bundleSpec, expected);
    if (edits.length > 0) return { ...base, action: 'refuse', reason: `the bundle's config.json is not what the start gate left at create: ${edits.join('; ')}; it was edited on the node since`, bundleEdits: edits };
  }
  const done: string[] = [];
  if (tier === undefined || tier.tier === 'system') {
    const refusal = await closeMemfdExec(base, bundle, deps);
    if (refusal) return refusal;
    done.push(base.memfdNoexec === 'set' ? 'memory-file execution refused in its pid namespace (vm.memfd_noexec = 2)' : 'memory-file execution not restricted: the kernel has no vm.memfd_noexec (Linux 6.3 or later has)');
  }
  const settings = config.startHold;
  if (!settings) return done.length ? { ...base, reason: done.join('; ') } : undefined;
  let script: Buffer;
  try {
    script = pinnedScript(settings, deps);
  } catch (err) {
    if (!isProtected) return undefined;
    if (!deps.armed.get() && !isPinRefusal(err)) {
      return { ...base, reason: [...done, `the audit start hold has not been offered on this node yet (${describeError(err)}): started before the audit daemon runs`].join('; ') };
    }
    const note = deps.readText(settings.stoppedNote)?.trim();
    const why = isPinRefusal(err) ? err.message : `the audit start hold ${settings.script} cannot be read (${describeError(err)})${note ? `; the audit daemon left: ${note}` : ''}`;
    return { ...base, action: 'refuse', reason: `${why}; a protected container does not start before its audit rules are set` };
  }
  deps.armed.set();
  const started = performance.now();
  let r: { code: number; stderr: string };
  try {
    r = await deps.run(script, id);
  } catch (err) {
    // The interpreter is not the one the daemon pinned (a finding), or could not be run (the gate's own failure).
    if (!isProtected) return undefined;
    const reason = `${describeError(err)}; a protected container does not start before its audit rules are set`;
    return isPinRefusal(err) ? { ...base, action: 'refuse', reason } : { ...base, action: 'refuse', reason, internalError: true };
  }
  const holdMs = Math.round(performance.now() - started);
  if (r.code !== 0) return { ...base, action: 'refuse', holdMs, reason: `the audit start hold refused (exit ${r.code}): ${r.stderr.trim() || 'no reason given'}` };
  return { ...base, holdMs, reason: [...done, `audit rules set before the first process (hold ${holdMs} ms)`].join('; ') };
}

/**
 * Sets vm.memfd_noexec = 2 in the pid namespace of the container's init
 * (the pid runc wrote to `<bundle>/init.pid` at create, checked to be a
 * process of this container), noting the result in `base`; the refusal
 * when it cannot be done.
 */
async function closeMemfdExec(base: StartDecision, bundle: string, deps: StartDeps): Promise<StartDecision | undefined> {
  const refuse = (why: string, internalError = false): StartDecision => ({ ...base, action: 'refuse', reason: `${why}; a system-tier container does not start while code from an anonymous memory file could run in it`, ...(internalError ? { internalError } : {}) });
  const pidText = deps.readText(`${bundle}/init.pid`)?.trim();
  if (!pidText || !/^[1-9][0-9]*$/.test(pidText)) return refuse(`the container's init pid cannot be read from ${bundle}/init.pid (${pidText === undefined ? 'no such file' : JSON.stringify(pidText)})`);
  base.initPid = Number(pidText);
  // The pid file is text root can rewrite between create and start: the pid must be a process in a
  // pid namespace below the node's (NSpid has two levels or more) and in this container's cgroup.
  const nsPid = /^NSpid:\s+(.+)$/m.exec(deps.readText(`/proc/${pidText}/status`) ?? '')?.[1]?.trim().split(/\s+/) ?? [];
  const cgroup = deps.readText(`/proc/${pidText}/cgroup`) ?? '';
  if (nsPid.length < 2 || !cgroup.includes(base.id)) {
    return refuse(`pid ${pidText} in ${bundle}/init.pid is not a process of this container (${nsPid.length < 2 ? "not in a pid namespace of its own: a process of the node, or a container that shares the node's (hostPID), for which memory files cannot be closed without closing them for the whole node" : "its cgroup does not name the container"})`);
  }
  let r: { code: number; stderr: string };
  try {
    r = await deps.memfdNoexec(pidText);
  } catch (err) {
    // The helper is not the one the host pinned (a finding), or could not be run (the gate's own failure).
    return isPinRefusal(err) ? refuse(err.message) : refuse(describeError(err), true);
  }
  if (r.code === 4) {
    base.memfdNoexec = 'unavailable';
    return undefined;
  }
  if (r.code !== 0) return refuse(`vm.memfd_noexec could not be set in the pid namespace of its init (pid ${pidText}; layer-bind exit ${r.code}: ${r.stderr.trim() || 'no reason given'})`);
  base.memfdNoexec = 'set';
  return undefined;
}

/**
 * The shell that runs the hold: busybox, a static program, pinned by the
 * daemon when it starts (pins.ts pinNow, as the runtime is) and run from
 * the daemon's own descriptor of the bytes that matched. Not `sh` by name:
 * root who replaced the node's /bin/sh would otherwise answer every hold
 * at once while the pinned script stayed untouched, and protected
 * containers would start before their audit rules are set.
 */
export const HOLD_SHELL = '/bin/busybox';

/** HOLD_SHELL, hashed now; with no pin (the file cannot be read), every protected start is refused. */
export function pinnedHoldShell(now = new Date()): PinnedProgram {
  return pinnedProgramOf(pinNow(HOLD_SHELL, "the start hold's shell", now), "the start hold's shell");
}

/** Runs `program()` (a pinned helper's descriptor, or a pin refusal thrown) with `args`; its exit code and stderr. */
function runPinned(program: PinnedProgram, args: readonly string[], argv0: string): Promise<{ code: number; stderr: string }> {
  const path = program();
  return new Promise((resolve) => {
    const child = spawn(path, args, { argv0, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: 1, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** The daemon's: `shell` runs the hold, `layerBind` sets a container's memfd policy. */
export const nodeStartDeps = (readDefence: DefenceReader, shell: PinnedProgram, layerBind: PinnedProgram, records?: StartDeps['records'], cri?: CriIdentitySource): StartDeps => {
  let armed = false;
  return {
    readDefence,
    records,
    cri,
    readText: (p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
    // busybox picks its applet from argv[0]; the path run is /proc/<pid>/fd/<n>.
    run: (script, id) => runPinned(shell, ['-c', script.toString('utf8'), 'hold', id], 'sh'),
    memfdNoexec: (pid) => runPinned(layerBind, ['memfd-noexec', pid], 'layer-bind'),
    armed: {
      get: () => {
        if (!armed) {
          try {
            readFileSync(ARMED_PATH);
            armed = true;
          } catch {
            // not latched yet
          }
        }
        return armed;
      },
      set: () => {
        if (armed) return;
        armed = true;
        try {
          writeFileSync(ARMED_PATH, `${new Date().toISOString()}\n`, { mode: 0o600 });
        } catch {
          // the latch still holds in memory
        }
      },
    },
    clock: () => new Date(),
  };
};
