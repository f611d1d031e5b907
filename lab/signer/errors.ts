/**
 * Error codes thrown by lab/signer. Verification problems are not thrown:
 * they are reported as findings (see verify.ts); these codes are for misuse,
 * bad configuration, and I/O that cannot go on.
 */
export type SignerErrorCode =
  // PKI
  | 'PKI_EXISTS'
  | 'PKI_MISSING_FILE'
  | 'PKI_KEY_PERMISSIONS'
  | 'PKI_KEY_MISMATCH'
  | 'PKI_BAD_PEM'
  | 'PKI_BAD_OPTIONS'
  // manifests and payloads
  | 'MANIFEST_INVALID'
  | 'MANIFEST_NOT_JSON'
  | 'CANONICAL_JSON_UNSUPPORTED'
  | 'UNSUPPORTED_FORMAT'
  // signing
  | 'SIGNER_CERT_NOT_VALID'
  | 'SIGNER_KEY_INVALID'
  // layers
  | 'LAYER_UNSUPPORTED_MEDIA_TYPE'
  | 'LAYER_DIGEST_MISMATCH'
  | 'LAYER_BAD_RECIPE'
  // cosign
  | 'COSIGN_BAD_KEY'
  | 'COSIGN_BAD_PAYLOAD'
  // registry
  | 'REGISTRY_BAD_URL'
  | 'REGISTRY_BAD_REFERENCE'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_HTTP_ERROR'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_DIGEST_MISMATCH';
