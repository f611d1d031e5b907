/**
 * containerd's RuntimeDefault seccomp profile, as the start gate's
 * reference for a protected container's record.
 *
 * A container that asks CRI for RuntimeDefault gets the profile containerd's
 * own code builds (contrib/seccomp `DefaultProfile`) from the container's
 * bounding capabilities, the machine's architecture and its kernel. Root on
 * the node can rewrite the record between CreateContainer and
 * StartContainer and add a rule, say `unshare` allowed, while the default
 * action stays "deny": the container then makes user namespaces (the door
 * to most kernel privilege escalations) though the pod asked for the
 * default profile. The gate holds the record's profile to containerd's,
 * computed by that same code: the `seccomp-default` helper
 * (lab/gates/seccomp-default/main.go), built on the host from the
 * containerd module go.mod pins (the version the lab's nodes run) and
 * installed on the node like the gate's other helpers, pinned.
 *
 * A container that asks for a Localhost profile gets what containerd's
 * `WithProfile` makes of the file the kubelet names, read at
 * CreateContainer. Root can rewrite that file (or mount another over it)
 * before a protected container is created, and the record then carries the
 * loosened profile with nothing to tell it from the real one. The gate
 * daemon reads every profile under the kubelet's seccomp directory once, at
 * its start (pinLocalhostProfiles), and holds the record to what the same
 * helper, running containerd's `WithProfile`, makes of those bytes.
 *
 * Host side: buildSeccompDefault, containerdMismatch. Node side (the gate
 * daemon): seccompReferences, pinLocalhostProfiles, localhostSeccomp and
 * seccompDepartures.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { LabError } from '../errors.ts';
import { localExec, type Exec } from '../exec.ts';
import { CACHE_ROOT } from '../host-cache.ts';
import { KUBELET_SECCOMP_ROOT } from '../cri/types.ts';
import type { GateErrorCode } from './config.ts';
import type { PinnedProgram } from './pins.ts';

/** Where the helper is installed on a node. */
export const SECCOMP_DEFAULT = '/opt/integrity-lab/seccomp-default';
const MODULE_DIR = join(import.meta.dirname, 'seccomp-default');

/** The profile as the OCI runtime spec writes it (linux.seccomp). */
export interface SeccompProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: { names?: string[]; action?: string; errnoRet?: number; args?: unknown[] }[];
  [key: string]: unknown;
}

/** containerd's RuntimeDefault profile for one bounding set, and the containerd version whose code made it. */
export interface SeccompReference {
  containerd: string;
  profile: SeccompProfile;
}

/** containerd's RuntimeDefault profile for a bounding set; rejects when it cannot be computed. */
export type SeccompReferences = (bounding: readonly string[]) => Promise<SeccompReference>;

// ---------------------------------------------------------------- host side

/** Builds under way in this process: the nodes of one kind cluster are prepared side by side. */
let building: Promise<string> | undefined;

/**
 * The helper's path on the host, built with the local Go toolchain on first
 * use (a few seconds once the modules are in Go's cache) and cached under
 * CACHE_ROOT by a hash of its module (go.mod, go.sum, main.go) and the
 * toolchain. Static (no cgo), so it runs on any lab node.
 */
export function buildSeccompDefault(exec: Exec = localExec): Promise<string> {
  building ??= build(exec).finally(() => {
    building = undefined;
  });
  return building;
}

async function build(exec: Exec): Promise<string> {
  const env = { GOFLAGS: '-mod=readonly -buildvcs=false', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  const go = await exec.run(['go', 'env', 'GOVERSION', 'GOARCH'], { env, timeoutMs: 30_000 }).catch((err: unknown) => {
    throw new LabError<GateErrorCode>('GATE_HELPER_BUILD', `cannot build the start gate's seccomp reference (${MODULE_DIR}): the Go toolchain is not installed or not on PATH (${(err as Error).message}); install Go 1.26 or later`, { cause: err });
  });
  if (go.exitCode !== 0) throw new LabError<GateErrorCode>('GATE_HELPER_BUILD', `\`go env\` failed: ${go.stderr.toString().trim()}`);
  const hash = createHash('sha256').update(go.stdout.toString());
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(`\0${f}\0`).update(await readFile(join(MODULE_DIR, f)));
  const out = join(CACHE_ROOT, 'gate-helpers', `seccomp-default-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return out;
  await mkdir(join(CACHE_ROOT, 'gate-helpers'), { recursive: true });
  // Unique per build: the workers of a parallel run (threads of one process) may build it side by side on a cold cache.
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // -mod=readonly: the committed go.sum is the pin; a mismatch is an error, never a silent update.
  const r = await exec.run(['go', 'build', '-trimpath', '-ldflags', '-s -w', '-o', tmp, '.'], { cwd: MODULE_DIR, env, timeoutMs: 600_000 }).catch((err: unknown) => {
    throw new LabError<GateErrorCode>('GATE_HELPER_BUILD', `go build of ${MODULE_DIR} could not run: ${(err as Error).message}`, { cause: err });
  });
  if (r.exitCode !== 0) {
    await rm(tmp, { force: true });
    throw new LabError<GateErrorCode>('GATE_HELPER_BUILD', `go build of ${MODULE_DIR} failed (is the Go module proxy reachable? go env GOPROXY decides):\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
  await rename(tmp, out);
  return out;
}

/** The containerd version the helper's go.mod pins (`v2.1.9`): the code its reference profile comes from. */
export async function seccompReferenceContainerd(): Promise<string> {
  const goMod = await readFile(join(MODULE_DIR, 'go.mod'), 'utf8');
  const pinned = /^\s*github\.com\/containerd\/containerd\/v2\s+(v\S+)/m.exec(goMod)?.[1];
  if (!pinned) throw new LabError<GateErrorCode>('GATE_HELPER_BUILD', `${join(MODULE_DIR, 'go.mod')} does not require github.com/containerd/containerd/v2`);
  return pinned;
}

/**
 * Why a node's containerd cannot be held to the reference, or undefined when
 * it can: the node's `containerd --version` line (Debian's reads
 * `containerd github.com/containerd/containerd/v2 2.1.9+unknown`) must name
 * the release go.mod pins. Another release may build another profile, and
 * then every RuntimeDefault protected container would be refused with no
 * word of why until one is started; the lab refuses to start instead.
 */
export function containerdMismatch(versionLine: string, pinned: string): string | undefined {
  const release = (v: string | undefined) => v?.replace(/^v/, '').replace(/[+~].*$/, '');
  const word = versionLine.trim().split(/\s+/)[2];
  const node = word && /^v?\d+\.\d+\.\d+/.test(word) ? release(word) : undefined;
  if (node && node === release(pinned)) return undefined;
  return `the node's containerd is ${node ? `release ${node}` : `unrecognised ("${versionLine.trim()}")`}, but the start gate's seccomp reference is built from containerd ${pinned} (${join(MODULE_DIR, 'go.mod')}), whose RuntimeDefault profile may differ; move go.mod to the node's release (go get github.com/containerd/containerd/v2@v${node ?? 'VERSION'} && go mod tidy) and commit go.mod and go.sum`;
}

// ---------------------------------------------------------------- node side

/**
 * The references the daemon asks the pinned helper for, one run per
 * bounding set (kept for the daemon's life: the helper's answer depends
 * only on its bytes, which the pin holds, the set, and this machine).
 */
export function seccompReferences(program: PinnedProgram, exec: Exec = localExec): SeccompReferences {
  const known = new Map<string, Promise<SeccompReference>>();
  return (bounding) => {
    const key = bounding.join(',');
    let answer = known.get(key);
    if (!answer) {
      answer = ask(program, exec, bounding);
      known.set(key, answer);
      // A failure is not kept: the next decision asks again (and refuses again if it fails again).
      answer.catch(() => known.delete(key));
    }
    return answer;
  };
}

async function ask(program: PinnedProgram, exec: Exec, args: readonly string[], input?: Buffer): Promise<SeccompReference> {
  const r = await exec.run([program(), ...args], { timeoutMs: 10_000, ...(input ? { input } : {}) });
  if (r.exitCode !== 0) throw new Error(`${SECCOMP_DEFAULT} exited ${r.exitCode}: ${r.stderr.trim()}`);
  const answer = JSON.parse(r.stdout.toString()) as Partial<SeccompReference>;
  if (typeof answer.containerd !== 'string' || !answer.profile || typeof answer.profile !== 'object') throw new Error(`${SECCOMP_DEFAULT} answered without a containerd version and a profile`);
  return answer as SeccompReference;
}

/** Bounds on what the daemon reads there at its start. */
const MAX_PROFILES = 1000;
const MAX_PROFILE_BYTES = 1 << 20;

/**
 * Every Localhost profile the node holds now, by path: the daemon reads
 * them once, at its start, as it pins the OCI runtime. A profile rewritten
 * later (by root on the node, or over it with a bind mount) changes what
 * containerd loads into the next container's record, not what the gate holds
 * that record to. Unreadable or oversized files are left out, so a container
 * naming them is refused. Absent directory: none.
 */
export function pinLocalhostProfiles(root = KUBELET_SECCOMP_ROOT, read: (path: string) => Buffer = readFileSync): Map<string, Buffer> {
  const pinned = new Map<string, Buffer>();
  let entries;
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true });
  } catch {
    return pinned;
  }
  for (const e of entries) {
    if (pinned.size >= MAX_PROFILES) break;
    const path = join(e.parentPath, e.name);
    try {
      // containerd's os.ReadFile follows a symlink; so does this.
      const st = statSync(path);
      if (st.isFile() && st.size <= MAX_PROFILE_BYTES) pinned.set(path, read(path));
    } catch {
      // gone or unreadable: not pinned
    }
  }
  return pinned;
}

/** A Localhost profile's reference: what containerd makes of the bytes pinned for its path. */
export type LocalhostSeccomp = (path: string) => Promise<SeccompReference>;

/**
 * containerd's load (contrib/seccomp `WithProfile`, through the pinned
 * helper's `--localhost`) of the bytes `pinned` holds for a path, one run
 * per distinct content. Rejects, naming why, when the path was not pinned.
 */
export function localhostSeccomp(program: PinnedProgram, pinned: ReadonlyMap<string, Buffer>, exec: Exec = localExec): LocalhostSeccomp {
  const known = new Map<string, Promise<SeccompReference>>();
  return async (path) => {
    const bytes = pinned.get(normalize(path));
    if (!bytes) {
      throw new Error(`the Localhost profile ${path} was not under ${KUBELET_SECCOMP_ROOT} when the gate daemon started (it pinned ${pinned.size === 0 ? 'none' : [...pinned.keys()].join(', ')})`);
    }
    const key = createHash('sha256').update(bytes).digest('hex');
    let answer = known.get(key);
    if (!answer) {
      answer = ask(program, exec, ['--localhost'], bytes);
      known.set(key, answer);
      answer.catch(() => known.delete(key));
    }
    return answer;
  };
}

/** Each rule as `name action[ args]`: a rule's names are one syscall each, whatever rule they came in. */
function ruleLines(profile: SeccompProfile | null | undefined): Set<string> {
  const out = new Set<string>();
  for (const rule of profile?.syscalls ?? []) {
    const rest = `${rule.action ?? '?'}${rule.errnoRet === undefined ? '' : ` errno ${rule.errnoRet}`}${rule.args?.length ? ` if ${JSON.stringify(rule.args)}` : ''}`;
    for (const name of rule.names ?? []) out.add(`${name} ${rest}`);
  }
  return out;
}

/**
 * Where a container's recorded profile departs from its reference
 * (containerd's RuntimeDefault for its bounding set, or containerd's load of
 * the pinned Localhost profile `localhost` names): one sentence, or none when
 * the two are the same JSON (the order of the rules included, since
 * containerd writes them in one order).
 */
export function seccompDepartures(recorded: SeccompProfile | null | undefined, reference: SeccompReference, localhost?: string): string[] {
  if (JSON.stringify(recorded ?? null) === JSON.stringify(reference.profile)) return [];
  const what = localhost
    ? `the Localhost profile ${localhost} the request CRI holds asks for, as containerd ${reference.containerd} loads the bytes the gate pinned at its start`
    : `containerd ${reference.containerd}'s RuntimeDefault profile for the container's capabilities, which the request CRI holds asks for`;
  if (!recorded) return [`linux.seccomp missing in containerd's record, where ${what} belongs`];
  const differences: string[] = [];
  for (const key of ['defaultAction', 'defaultErrnoRet', 'architectures', 'listenerPath', 'listenerMetadata', 'flags'] as const) {
    if (JSON.stringify(recorded[key]) !== JSON.stringify(reference.profile[key])) differences.push(`${key} ${JSON.stringify(recorded[key] ?? null)} (the profile's: ${JSON.stringify(reference.profile[key] ?? null)})`);
  }
  const have = ruleLines(recorded);
  const want = ruleLines(reference.profile);
  const added = [...have].filter((r) => !want.has(r));
  const removed = [...want].filter((r) => !have.has(r));
  const shown = (rules: string[]) => `${rules.slice(0, 8).join(', ')}${rules.length > 8 ? ` and ${rules.length - 8} more` : ''}`;
  if (added.length > 0) differences.push(`rules the profile does not have: ${shown(added)}`);
  if (removed.length > 0) differences.push(`without the profile's rules ${shown(removed)}`);
  if (differences.length === 0) differences.push('its rules in another order or form');
  return [`linux.seccomp in containerd's record is not ${what}: ${differences.join('; ')}`];
}
