/**
 * lab/signer: the lab PKI, attached image signatures (delivery-kit and v2
 * payloads) with per-layer dm-verity root hashes, the verification library
 * shared by the node gates and the admission webhook, cosign-format
 * signatures, and a minimal OCI registry client. See docs/signing.md.
 *
 * For verifiers: `verifyManifestBytes(bytes, { trustedRoots, clock,
 * expectedDigest })` → `{ ok, findings[] }`; each finding has a typed
 * `code`. Nothing in a manifest is trusted until that returns ok.
 */
export type { SignerErrorCode } from './errors.ts';
export type { CertificateProfile, CertifiedKey, Clock, GeneratePkiOptions, IssueOptions, LabPki } from './pki.ts';
export type { OciDescriptor, OciManifest } from './manifest.ts';
export type { PayloadFormat, SigningPayload } from './payload.ts';
export type { SignOptions, SignResult, Signer, SigningIdentity } from './sign.ts';
export type {
  Severity,
  SignerInfo,
  VerificationCode,
  VerificationFinding,
  VerificationResult,
  VerifyBytesOptions,
  VerifyOptions,
} from './verify.ts';
export type { LayerIdentity, LayerRootHash, LayerRootHashOptions } from './layers.ts';
export type { CosignSignature, CosignSignatureImage, CosignVerification } from './cosign.ts';
export type { FetchedManifest, RegistryClientOptions, RepositoryReference } from './registry.ts';
export type { RootHashRecipe, SignImageOptions, SignedImage, VerifyImageOptions } from './image.ts';
export type { SignCommandDeps } from './cli.ts';

export { PKI_FILES, PROFILES, PrivateKey, generateKey, generateLabPki, issueCertificate, loadLabPki, loadTrustedRoots } from './pki.ts';
export { ANNOTATIONS, MEDIA_TYPES, SIGNATURE_ANNOTATION_KEYS, parseManifest, parseManifestBytes, serializeManifest } from './manifest.ts';
export { PAYLOAD_FORMATS, V2_DOMAIN_SEPARATOR, declaredFormat, deliveryKitPayload, signingPayload, v2Payload } from './payload.ts';
export { pkiSigningIdentity, signManifest } from './sign.ts';
export { verifyManifest, verifyManifestBytes, warmUpVerifier } from './verify.ts';
export {
  UUID_NAMESPACE_URL,
  annotateLayerRootHashes,
  buildTimestampOf,
  computeLayerRootHashes,
  nodeMkfsErofsArgv,
  uncompressLayer,
  uuidV5,
  verityRootHasher,
} from './layers.ts';
export {
  COSIGN_PAYLOAD_MEDIA_TYPE,
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIGNATURE_TYPE,
  buildCosignSignatureImage,
  cosignPayload,
  cosignSignPayload,
  cosignSignatureTag,
  cosignVerify,
  fetchCosignSignatures,
  loadCosignPublicKey,
  pushCosignSignature,
  verifyCosignImage,
} from './cosign.ts';
export { MANIFEST_ACCEPT, RegistryClient, parseRepositoryReference } from './registry.ts';
export { signImageInRegistry, signManifestBytes, verifyImageInRegistry } from './image.ts';
export { bindingOf, repositoryPath } from './binding.ts';
export type { ImageBinding } from './binding.ts';
export { command, createSignCommand } from './cli.ts';
