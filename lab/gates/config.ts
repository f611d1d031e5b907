/**
 * The node gates' configuration, written by the lab into the node at
 * /etc/integrity-lab/gates.json. A missing or corrupt file makes the gates
 * refuse: nothing fails open.
 */
import { readFileSync } from 'node:fs';
import { LabError } from '../errors.ts';
import { applicationTierProblems, type ApplicationTierSettings } from './tiers.ts';
import type { StartHoldSettings } from './start-hold-gate.ts';

export type GateErrorCode =
  | 'GATE_CONFIG_MISSING'
  | 'GATE_CONFIG_INVALID'
  | 'GATE_TRUST_MISSING'
  | 'GATE_REFUSED'
  | 'GATE_INTERNAL'
  | 'GATE_DEFENCE_CHANGED'
  | 'GATE_PINS_MISSING'
  /** A helper the gate runs (built on the host with Go) could not be built. */
  | 'GATE_HELPER_BUILD'
  /** A helper the gate runs was built for another version of the node's software than the node runs. */
  | 'GATE_HELPER_VERSION';

export const GATE_CONFIG_PATH = '/etc/integrity-lab/gates.json';

export interface GateConfig {
  /** Namespaces whose containers must pass the run-time gate (globs: `d8-*`). */
  protectedNamespaces: string[];
  /** Image references the pull gate protects (globs over `host/repo:tag`). */
  protectedImages: string[];
  /** PEM file of the roots a signing chain must lead to. */
  trustedRootsFile: string;
  /** Signature payload formats accepted. `v2` signs root hashes; see docs/signing.md. */
  allowedFormats: ('delivery-kit' | 'v2')[];
  /** The standard read-only mount-points layer and its pinned dm-verity root hash. */
  standardLayer: { path: string; rootHash: string };
  /** `auto` uses kernel dm-verity when the node has it, userspace otherwise. */
  verityMode: 'auto' | 'kernel' | 'userspace';
  /** Where the run-time gate logs its decisions (JSON lines). */
  decisionLog: string;
  /** The real OCI runtime the run-time gate hands over to. */
  runtime: string;
  /** Namespaces outside protectedNamespaces whose images are checked against their digests (tiers.ts); absent: none. */
  applicationTier?: ApplicationTierSettings;
  /** The profile runs the audit component: `runc start` runs its start hold (start-hold-gate.ts); absent: no hold. */
  startHold?: StartHoldSettings;
}

function fail(code: GateErrorCode, message: string, cause?: unknown): never {
  throw new LabError<GateErrorCode>(code, message, { cause });
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Parses and checks a gate configuration; any doubt is an error. */
export function parseGateConfig(text: string, source = GATE_CONFIG_PATH): GateConfig {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    fail('GATE_CONFIG_INVALID', `${source}: not JSON: ${(err as Error).message}`, err);
  }
  if (data === null || typeof data !== 'object') fail('GATE_CONFIG_INVALID', `${source}: expected an object`);
  const problems: string[] = [];
  if (!isStringArray(data.protectedNamespaces)) problems.push('protectedNamespaces: expected a list of strings');
  if (!isStringArray(data.protectedImages)) problems.push('protectedImages: expected a list of strings');
  if (typeof data.trustedRootsFile !== 'string') problems.push('trustedRootsFile: expected a path');
  if (!isStringArray(data.allowedFormats) || data.allowedFormats.some((f) => f !== 'v2' && f !== 'delivery-kit') || data.allowedFormats.length === 0) {
    problems.push('allowedFormats: expected a non-empty list of "v2" and/or "delivery-kit"');
  }
  const std = data.standardLayer as GateConfig['standardLayer'] | undefined;
  if (!std || typeof std.path !== 'string' || typeof std.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(std.rootHash)) {
    problems.push('standardLayer: expected { path, rootHash: 64 hex digits }');
  }
  if (!['auto', 'kernel', 'userspace'].includes(data.verityMode as string)) problems.push('verityMode: expected auto, kernel or userspace');
  if (typeof data.decisionLog !== 'string') problems.push('decisionLog: expected a path');
  if (typeof data.runtime !== 'string') problems.push('runtime: expected a path');
  problems.push(...applicationTierProblems(data.applicationTier));
  const hold = data.startHold as Partial<StartHoldSettings> | undefined;
  if (hold !== undefined && (hold === null || typeof hold !== 'object' || typeof hold.script !== 'string' || !hold.script.startsWith('/') || typeof hold.stoppedNote !== 'string' || !hold.stoppedNote.startsWith('/'))) {
    problems.push('startHold: expected { script: absolute path, stoppedNote: absolute path }');
  }
  if (problems.length) fail('GATE_CONFIG_INVALID', `${source}: ${problems.join('; ')}`);
  return data as unknown as GateConfig;
}

/** `read` may refuse bytes that differ from their pin (pins.ts): that refusal is passed on as it is. */
export function loadGateConfig(path = GATE_CONFIG_PATH, read: (path: string) => Buffer = (p) => readFileSync(p)): GateConfig {
  let text: string;
  try {
    text = read(path).toString('utf8');
  } catch (err) {
    if (err instanceof LabError) throw err;
    fail('GATE_CONFIG_MISSING', `${path}: cannot read the gate configuration: ${(err as Error).message}`, err);
  }
  return parseGateConfig(text, path);
}

/** Reads the trusted roots; an empty or unreadable file is an error. */
export function loadTrustedRootsPem(path: string, read: (path: string) => Buffer = (p) => readFileSync(p)): string[] {
  let text: string;
  try {
    text = read(path).toString('utf8');
  } catch (err) {
    if (err instanceof LabError) throw err;
    fail('GATE_TRUST_MISSING', `trusted roots ${path}: cannot read: ${(err as Error).message}`, err);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) fail('GATE_TRUST_MISSING', `trusted roots ${path}: no PEM certificate in ${text.length} bytes`);
  return pems;
}

/** Shell-style glob over a whole string: `*` matches anything, `?` one character. */
export function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(value);
}
