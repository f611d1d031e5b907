/**
 * AdmissionReview `admission.k8s.io/v1`, the wire format between
 * kube-apiserver and a validating webhook:
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 *
 * Pure functions: an untrusted JSON value in, a typed request or a reason
 * for HTTP 400 out; a decision in, a response body out.
 */
import { type AdmissionObject, decodeAdmissionObject } from './pod.ts';
import type { Decision, Operation } from './types.ts';
import { describeValue } from './validate.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  operation: Operation;
  namespace: string;
  object: AdmissionObject;
  dryRun: boolean;
}

export type ReviewParseResult = { ok: true; request: AdmissionRequest } | { ok: false; reason: string };

const MAX_UID_LENGTH = 256;

/**
 * Reads an AdmissionReview. Trust boundary: everything in `body` is
 * attacker-controlled until it has passed these checks. Operations other
 * than CREATE and UPDATE are refused as malformed (the webhook is registered
 * for those only), so no request can reach "admit" by taking a path the
 * policies do not cover.
 */
export function parseAdmissionReview(body: unknown): ReviewParseResult {
  const fail = (reason: string): ReviewParseResult => ({ ok: false, reason });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail(`body should be an AdmissionReview object, got ${describeValue(body)}`);
  const review = body as Record<string, unknown>;
  if (review['apiVersion'] !== ADMISSION_API_VERSION) return fail(`apiVersion should be "${ADMISSION_API_VERSION}", got ${describeValue(review['apiVersion'])}`);
  if (review['kind'] !== 'AdmissionReview') return fail(`kind should be "AdmissionReview", got ${describeValue(review['kind'])}`);
  const request = review['request'];
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return fail(`request should be an object, got ${describeValue(request)}`);
  const req = request as Record<string, unknown>;
  const uid = req['uid'];
  if (typeof uid !== 'string' || uid.length === 0) return fail(`request.uid should be a non-empty string, got ${describeValue(uid)}`);
  if (uid.length > MAX_UID_LENGTH) return fail(`request.uid should be at most ${MAX_UID_LENGTH} characters, got ${uid.length}`);
  const operation = req['operation'];
  if (operation !== 'CREATE' && operation !== 'UPDATE') {
    return fail(`request.operation should be "CREATE" or "UPDATE" (the operations this webhook is registered for), got ${describeValue(operation)}`);
  }
  const decoded = decodeAdmissionObject(req['object']);
  if (!decoded.ok) return fail(`request.object: ${decoded.reason}`);
  const object = decoded.object;

  const requestKind = req['kind'];
  if (requestKind !== undefined) {
    const k = requestKind as Record<string, unknown> | null;
    if (k === null || typeof k !== 'object' || k['kind'] !== object.kind) {
      return fail(`request.kind.kind should match request.object.kind ${JSON.stringify(object.kind)}, got ${describeValue(k !== null && typeof k === 'object' ? k['kind'] : k)}`);
    }
  }
  const reqNs = req['namespace'];
  if (reqNs !== undefined && typeof reqNs !== 'string') return fail(`request.namespace should be a string, got ${describeValue(reqNs)}`);
  const objNs = object.metadata?.namespace;
  if (reqNs !== undefined && reqNs !== '' && objNs !== undefined && objNs !== '' && reqNs !== objNs) {
    return fail(`request.namespace ${JSON.stringify(reqNs)} and request.object.metadata.namespace ${JSON.stringify(objNs)} should agree`);
  }
  const namespace = reqNs !== undefined && reqNs !== '' ? reqNs : objNs;
  if (namespace === undefined || namespace === '') return fail('request.namespace should name the namespace of the object, got nothing (pods are namespaced)');
  const dryRun = req['dryRun'];
  if (dryRun !== undefined && typeof dryRun !== 'boolean') return fail(`request.dryRun should be a boolean, got ${describeValue(dryRun)}`);
  return { ok: true, request: { uid, operation, namespace, object, dryRun: dryRun === true } };
}

export interface AdmissionResponseBody {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status: { code: number; message: string; reason?: string };
    warnings: string[];
  };
}

/** The AdmissionReview response for a decision. */
export function admissionResponse(uid: string, decision: Decision): AdmissionResponseBody {
  const message = decision.allowed
    ? decision.warnings.length > 0
      ? `admitted with ${decision.warnings.length} warning(s)`
      : 'admitted'
    : (decision.message ?? 'denied');
  const status: AdmissionResponseBody['response']['status'] = { code: decision.code, message };
  if (!decision.allowed) status.reason = decision.code === 500 ? 'InternalError' : 'Forbidden';
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid, allowed: decision.allowed, status, warnings: decision.warnings },
  };
}
