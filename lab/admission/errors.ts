/**
 * Error codes of the admission component. Tests assert on these; people read
 * the message, which names the file or endpoint, the field, what was expected
 * and what was found.
 */
import { LabError } from '../errors.ts';

export type AdmissionErrorCode =
  /** A policy, namespace, suite or manifest file could not be read. */
  | 'ADMISSION_READ_FAILED'
  /** A YAML document does not parse. */
  | 'ADMISSION_YAML_INVALID'
  /** A document does not match its JSON Schema. */
  | 'ADMISSION_SCHEMA_INVALID'
  /** A document matched its schema but could not be turned into typed objects. */
  | 'ADMISSION_DECODE_FAILED'
  /** A document is well-formed but means something impossible (min > max, duplicate names, bad key). */
  | 'ADMISSION_MEANING_INVALID'
  /** The serving certificate or key is unusable. */
  | 'ADMISSION_TLS_INVALID'
  /** The webhook server could not bind its port. */
  | 'ADMISSION_LISTEN_FAILED'
  /** A ValidatingWebhookConfiguration is unusable by the dispatcher. */
  | 'ADMISSION_WEBHOOK_CONFIG_INVALID'
  /** A signature verifier was configured with something unusable (registry map, trust anchors). */
  | 'ADMISSION_VERIFIER_CONFIG_INVALID'
  /** The webhook on a lab node did not start, or did not answer /healthz in time. */
  | 'ADMISSION_WEBHOOK_NOT_READY'
  /** The admission node component was used on a node it was not installed on, or a lab operation on it failed. */
  | 'ADMISSION_COMPONENT_FAILED';

export type AdmissionError = LabError<AdmissionErrorCode>;

export function admissionError(code: AdmissionErrorCode, message: string, cause?: unknown): AdmissionError {
  return new LabError(code, message, cause === undefined ? undefined : { cause });
}
