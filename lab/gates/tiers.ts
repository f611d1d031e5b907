/**
 * Which integrity tier a namespace's containers run under, from the node's
 * gate configuration (the profile's `spec.gates`):
 *
 * - `system`: the namespaces in `protectedNamespaces` (kube-system, d8-*):
 *   signed images, verified EROFS layers, read-only rootfs (runtime-gate.ts);
 * - `application`: every other namespace the application tier matches and
 *   does not exempt: the local image is checked against the digests it is
 *   known by (app-image.ts), and its layers are re-verified while it runs;
 * - `none`: no start-time check.
 *
 * The system tier wins over an application rule, so a profile cannot move a
 * system namespace down a tier by a broad `namespaces: ["*"]`.
 */
import { globMatch, type GateConfig } from './config.ts';

export type Tier = 'system' | 'application' | 'none';

/** `applicationTier` in the gate configuration and in a profile's `spec.gates`. */
export interface ApplicationTierSettings {
  /** Namespaces that opt in (globs). */
  namespaces: string[];
  /** Namespaces that opt out although a glob in `namespaces` matches them. */
  exempt: string[];
}

export interface TierDecision {
  tier: Tier;
  /** Which rule decided, for the decision log and the report. */
  rule: string;
}

export function tierOf(config: Pick<GateConfig, 'protectedNamespaces' | 'applicationTier'>, namespace: string): TierDecision {
  const system = config.protectedNamespaces.find((p) => globMatch(p, namespace));
  if (system !== undefined) return { tier: 'system', rule: `protectedNamespaces: ${system}` };
  const app = config.applicationTier;
  const exempt = app?.exempt.find((p) => globMatch(p, namespace));
  if (exempt !== undefined) return { tier: 'none', rule: `applicationTier.exempt: ${exempt}` };
  const opted = app?.namespaces.find((p) => globMatch(p, namespace));
  if (opted !== undefined) return { tier: 'application', rule: `applicationTier.namespaces: ${opted}` };
  return { tier: 'none', rule: app ? 'no applicationTier.namespaces glob matches' : 'the node has no application tier' };
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Problems with an `applicationTier` value, for parseGateConfig; absent is fine (no application tier). */
export function applicationTierProblems(value: unknown): string[] {
  if (value === undefined) return [];
  const v = value as Partial<ApplicationTierSettings> | null;
  if (v === null || typeof v !== 'object') return ['applicationTier: expected { namespaces, exempt }'];
  const out: string[] = [];
  if (!isStringArray(v.namespaces)) out.push('applicationTier.namespaces: expected a list of strings');
  if (!isStringArray(v.exempt)) out.push('applicationTier.exempt: expected a list of strings');
  return out;
}
