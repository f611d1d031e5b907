/**
 * lab/admission: a validating admission webhook (AdmissionReview v1 over
 * HTTPS) with the Deckhouse policy set, a kube-apiserver-style dispatcher,
 * and offline policy suites.
 *
 * Test helpers (a throwaway CA in test-pki.ts, an HTTPS client in
 * test-client.ts) are deliberately not exported: importing the component
 * must not load @peculiar/x509 or patch Reflect. The real verifiers and the
 * node component load lab/signer (and esbuild) lazily, on first use, for
 * the same reason.
 */
import { fileURLToPath } from 'node:url';

// -- types ---------------------------------------------------------------------
export type { AdmissionErrorCode, AdmissionError } from './errors.ts';
export type {
  CosignVerifier,
  Decision,
  DecisionListener,
  DecisionRecord,
  EnforcementMode,
  ImageSignatureVerifier,
  NamespaceInfo,
  Operation,
  Policy,
  PolicyContext,
  VerifyResult,
  Violation,
} from './types.ts';
export type { AdmissionObject, Pod, PodSpec, Workload } from './pod.ts';
export type { LabState, SourceText } from './loader.ts';
export type { AdmissionRequestInput, EngineFromStateOptions, EngineOptions } from './engine.ts';
export type { CacheStats, Clock, DecisionCacheOptions } from './cache.ts';
export type { WebhookServerOptions, WebhookStats } from './server.ts';
export type { AdmissionRequest, AdmissionResponseBody } from './review.ts';
export type {
  DispatchOperation,
  DispatchRequest,
  DispatchResult,
  DispatcherOptions,
  LoadedWebhookConfiguration,
  LoadWebhookOptions,
  ValidatingWebhookConfiguration,
  WebhookExchange,
  WebhookOutcome,
} from './dispatcher.ts';
export type { CaseResult, LoadedSuite, SuiteCase, SuiteResult } from './suite.ts';
export type { PssLevel, PodSecurityStandardsOptions } from './policies/pod-security-standards.ts';
export type {
  AdmissionConfigDoc,
  AdmissionSuiteDoc,
  NamespaceDoc,
  OperationPolicyDoc,
  SecurityPolicyDoc,
} from './schema.ts';
export type { AdmissionCommandDeps } from './cli.ts';
export type { AttachedFormat, AttachedVerifierOptions, RegistryVerifierOptions } from './registry-verifiers.ts';
export type { AdmissionComponentOptions, AdmissionReviewOutcome } from './component.ts';
export type { PodSubmission } from './submit.ts';
export type { CosignPolicyInput } from './policy-docs.ts';

// -- values --------------------------------------------------------------------
export { AdmissionEngine, createEngine, DecisionLog, policiesFromState } from './engine.ts';
export { loadLabState, loadLabStateFromTexts } from './loader.ts';
export { CachedCosignVerifier, CachedImageVerifier, DecisionCache, systemClock } from './cache.ts';
export { refuseAllCosignVerifier, refuseAllImageVerifier, StaticCosignVerifier, StaticImageVerifier } from './verifiers.ts';
export { StartedWebhookServer, WebhookServer, DEFAULT_MAX_BODY_BYTES } from './server.ts';
export { admissionResponse, parseAdmissionReview, ADMISSION_API_VERSION } from './review.ts';
export { AdmissionDispatcher, loadWebhookConfiguration, parseWebhookConfiguration, CA_BUNDLE_PLACEHOLDER } from './dispatcher.ts';
export { loadSuite, runSuite, runSuiteFile } from './suite.ts';
export { decodeAdmissionObject } from './pod.ts';
export {
  checkPodSecurity,
  PodSecurityStandardsPolicy,
  POD_POLICY_ACTION_LABEL,
  POD_POLICY_LABEL,
  SKIP_PSS_LABEL,
} from './policies/pod-security-standards.ts';
export { SecurityPolicyPolicy, VERIFY_IMAGE_SIGNATURES_PREFIX } from './policies/security-policy.ts';
export { OperationPolicyPolicy } from './policies/operation-policy.ts';
export { DEFAULT_PROTECTED_NAMESPACES, VerifyImageSignaturesPolicy } from './policies/verify-image-signatures.ts';
export { command, createAdmissionCommand } from './cli.ts';
export { parseRegistryMap, RegistryCosignVerifier, RegistryImageVerifier } from './registry-verifiers.ts';
export { podObjectOf, withApiDefaults, withContainerPort, withContainerSecurityContext, withImageVolume } from './node-pod.ts';
export {
  AdmissionNodeComponent,
  admissionComponent,
  admissionOf,
  DEFAULT_POLICIES_DIR,
  NODE_PATHS,
  parseDecisionLog,
  renderWebhookManifest,
  serviceDnsNames,
} from './component.ts';
export { criFootprint, inNamespace, submitPodObject, submitWorkload } from './submit.ts';
export { cosignPolicyDocument } from './policy-docs.ts';

/** Path of the shipped ValidatingWebhookConfiguration manifest. */
export const WEBHOOK_MANIFEST = fileURLToPath(new URL('./manifests/validating-webhook.yaml', import.meta.url));
