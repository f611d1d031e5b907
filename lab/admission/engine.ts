/**
 * The policy engine: one object, its namespace, every policy, one decision.
 *
 * Combination rule (as Gatekeeper combines constraints): every policy runs;
 * any deny-mode violation denies; warn-mode violations become warnings;
 * dryrun-mode ones are only recorded. A policy that throws (or rejects) is a
 * denial with code 500: the engine never admits because something broke.
 */
import { ReviewBudget, type ReviewLimits } from './budget.ts';
import { type LabState, METADATA_NAME_LABEL } from './loader.ts';
import { OperationPolicyPolicy } from './policies/operation-policy.ts';
import { PodSecurityStandardsPolicy } from './policies/pod-security-standards.ts';
import { SecurityPolicyPolicy } from './policies/security-policy.ts';
import { VerifyImageSignaturesPolicy } from './policies/verify-image-signatures.ts';
import { type AdmissionObject, imagesOf, objectName } from './pod.ts';
import type {
  CosignVerifier,
  Decision,
  DecisionListener,
  DecisionRecord,
  ImageSignatureVerifier,
  NamespaceInfo,
  Operation,
  Policy,
  PolicyContext,
  Violation,
} from './types.ts';
import { refuseAllCosignVerifier, refuseAllImageVerifier } from './verifiers.ts';

export interface AdmissionRequestInput {
  /** Request uid (AdmissionReview `request.uid`), echoed into the record. */
  uid: string;
  operation: Operation;
  namespace: string;
  /** Already shape-checked (see `decodeAdmissionObject`). */
  object: AdmissionObject;
}

export interface EngineOptions {
  policies: readonly Policy[];
  /** Namespace cache; unknown namespaces get only the metadata.name label. */
  namespaces: ReadonlyMap<string, NamespaceInfo>;
  imageVerifier?: ImageSignatureVerifier;
  cosignVerifier?: CosignVerifier;
  /** Injected clock for record times. */
  now?: () => Date;
  /** Bounded work per review (budget.ts); defaults to DEFAULT_REVIEW_LIMITS. */
  reviewLimits?: ReviewLimits;
}

/** Role with one method: admit or refuse one object. */
export class AdmissionEngine {
  readonly #policies: readonly Policy[];
  readonly #namespaces: ReadonlyMap<string, NamespaceInfo>;
  readonly #ctxBase: Omit<PolicyContext, 'operation'>;
  readonly #now: () => Date;
  readonly #limits: ReviewLimits;
  readonly #listeners = new Set<DecisionListener>();

  constructor(options: EngineOptions) {
    this.#policies = options.policies;
    this.#namespaces = options.namespaces;
    this.#ctxBase = {
      imageVerifier: options.imageVerifier ?? refuseAllImageVerifier,
      cosignVerifier: options.cosignVerifier ?? refuseAllCosignVerifier,
    };
    this.#now = options.now ?? (() => new Date());
    this.#limits = options.reviewLimits ?? {};
  }

  /** Subscribes to decision records; returns the unsubscribe function. */
  onDecision(listener: DecisionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The namespace as the policies will see it. */
  namespaceInfo(name: string): NamespaceInfo {
    const known = this.#namespaces.get(name);
    if (known !== undefined) return known;
    return { name, labels: { [METADATA_NAME_LABEL]: name } };
  }

  async review(input: AdmissionRequestInput): Promise<Decision> {
    const namespace = this.namespaceInfo(input.namespace);
    const budget = new ReviewBudget(this.#limits);
    const ctx: PolicyContext = { operation: input.operation, imageVerifier: budget.image(this.#ctxBase.imageVerifier), cosignVerifier: budget.cosign(this.#ctxBase.cosignVerifier) };
    const settled = await Promise.allSettled(
      this.#policies.map(async (policy) => policy.evaluate(input.object, namespace, ctx)),
    );
    budget.end();
    const violations: Violation[] = [];
    let internalError = false;
    settled.forEach((s, i) => {
      const policy = this.#policies[i];
      const name = policy?.name ?? `policy #${i}`;
      if (s.status === 'fulfilled' && Array.isArray(s.value)) {
        violations.push(...s.value);
      } else {
        internalError = true;
        const why = s.status === 'rejected' ? (s.reason instanceof Error ? s.reason.message : String(s.reason)) : 'returned no violation list';
        violations.push({ policy: name, mode: 'deny', message: `[${name}] internal error while evaluating the policy, refusing: ${why}`, internalError: true });
      }
    });
    const denials = violations.filter((v) => v.mode === 'deny');
    const decision: Decision = {
      allowed: denials.length === 0,
      code: denials.length === 0 ? 200 : internalError ? 500 : 403,
      warnings: violations.filter((v) => v.mode === 'warn').map((v) => v.message),
      violations,
    };
    if (denials.length > 0) decision.message = denials.map((v) => v.message).join('\n');
    this.#emit(input, decision);
    return decision;
  }

  #emit(input: AdmissionRequestInput, decision: Decision): void {
    if (this.#listeners.size === 0) return;
    const deciding =
      decision.violations.find((v) => v.mode === 'deny') ??
      decision.violations.find((v) => v.mode === 'warn') ??
      decision.violations.find((v) => v.mode === 'dryrun');
    const record: DecisionRecord = {
      time: this.#now().toISOString(),
      uid: input.uid,
      operation: input.operation,
      namespace: input.namespace,
      kind: input.object.kind,
      name: objectName(input.object),
      images: imagesOf(input.object),
      policy: deciding?.policy ?? 'none',
      action: deciding?.mode ?? 'allow',
      outcome: decision.allowed ? 'admitted' : 'denied',
      violations: decision.violations,
    };
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        // A broken listener must not change or block the decision.
      }
    }
  }
}

export interface EngineFromStateOptions {
  imageVerifier?: ImageSignatureVerifier;
  cosignVerifier?: CosignVerifier;
  now?: () => Date;
  reviewLimits?: ReviewLimits;
}

/** The policies a lab state declares, in evaluation order. */
export function policiesFromState(state: LabState): Policy[] {
  return [
    new VerifyImageSignaturesPolicy(state.protectedNamespaces),
    new PodSecurityStandardsPolicy(state.podSecurityStandards),
    ...state.securityPolicies.map((doc) => new SecurityPolicyPolicy(doc)),
    ...state.operationPolicies.map((doc) => new OperationPolicyPolicy(doc)),
  ];
}

export function createEngine(state: LabState, options: EngineFromStateOptions = {}): AdmissionEngine {
  const engineOptions: EngineOptions = { policies: policiesFromState(state), namespaces: state.namespaces };
  if (options.imageVerifier !== undefined) engineOptions.imageVerifier = options.imageVerifier;
  if (options.cosignVerifier !== undefined) engineOptions.cosignVerifier = options.cosignVerifier;
  if (options.now !== undefined) engineOptions.now = options.now;
  if (options.reviewLimits !== undefined) engineOptions.reviewLimits = options.reviewLimits;
  return new AdmissionEngine(engineOptions);
}

/** Collects records in memory (for tests, the suite runner and "dryrun records" checks). */
export class DecisionLog {
  readonly records: DecisionRecord[] = [];
  readonly #max: number;

  constructor(maxRecords = 10_000) {
    this.#max = maxRecords;
  }

  readonly listener: DecisionListener = (record) => {
    this.records.push(record);
    if (this.records.length > this.#max) this.records.shift();
  };
}
