/**
 * Roles and records of the admission engine. A policy is a role with one
 * method, `evaluate`; everything it needs beyond the object and its namespace
 * arrives in the context (verifiers, the time), so tests inject them.
 */
import type { AdmissionObject } from './pod.ts';
import type { Labels } from './selector.ts';

/** How a violation is enforced (lower-case, as in the namespace labels). */
export type EnforcementMode = 'deny' | 'warn' | 'dryrun';

/** One failed check. */
export interface Violation {
  /** The policy that found it, e.g. `verify-image-signatures`, `SecurityPolicy/restricted`. */
  policy: string;
  /** Full message, starting with `[<policy-name>] `. */
  message: string;
  /** What the violation does. */
  mode: EnforcementMode;
  /** The policy failed to evaluate (refused, fail-closed): no finding about the object. */
  internalError?: true;
}

/** A namespace as the engine sees it: the API server namespace cache, in the lab the YAML state. */
export interface NamespaceInfo {
  name: string;
  labels: Labels;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Attached (delivery-kit) signature check for protected namespaces; wired to lab/signer by the lead. */
export interface ImageSignatureVerifier {
  verify(image: string): Promise<VerifyResult>;
}

/** Cosign signature check for SecurityPolicy verifyImageSignatures; wired to lab/signer by the lead. */
export interface CosignVerifier {
  verify(image: string, publicKeyPem: string): Promise<VerifyResult>;
}

export type Operation = 'CREATE' | 'UPDATE';

export interface PolicyContext {
  operation: Operation;
  imageVerifier: ImageSignatureVerifier;
  cosignVerifier: CosignVerifier;
}

export interface Policy {
  /** Stable name used in records, e.g. `pod-security-standards`. */
  readonly name: string;
  evaluate(object: AdmissionObject, namespace: NamespaceInfo, ctx: PolicyContext): Promise<Violation[]> | Violation[];
}

/** The engine's answer for one object. */
export interface Decision {
  allowed: boolean;
  /** HTTP-like code for `status.code`: 200 admitted, 403 denied by policy, 500 denied because a policy failed. */
  code: 200 | 403 | 500;
  /** Denial message (all deny-mode violations, joined), or undefined when admitted. */
  message?: string;
  /** Warn-mode violations, shown to the client. */
  warnings: string[];
  /** Every violation found, whatever its mode. */
  violations: Violation[];
}

/**
 * One record per admission decision: what the audit event source and the
 * "dryrun admits and records" checks read.
 */
export interface DecisionRecord {
  /** ISO time from the injected clock. */
  time: string;
  /** AdmissionReview request uid, or a suite case name offline. */
  uid: string;
  operation: Operation;
  namespace: string;
  /** Object kind: Pod or a workload kind. */
  kind: string;
  /** Object name (`generateName*` when only that is set). */
  name: string;
  images: string[];
  /** The policy that decided: the first deny-mode one, else the first warn/dryrun one, else `none`. */
  policy: string;
  /** Mode of that policy's violation, or `allow` when nothing was violated. */
  action: EnforcementMode | 'allow';
  outcome: 'admitted' | 'denied';
  /** All violations, with their own policy and mode. */
  violations: Violation[];
}

export type DecisionListener = (record: DecisionRecord) => void;
