/**
 * Trust operations on a started lab: the lab's own PKI (generated per lab,
 * kept in the lab's state directory and removed with it), attached
 * signatures in the node registry, and cosign signatures made and checked
 * both by the lab and by the real cosign binary in the node.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { buildTar } from '../images/index.ts';
import {
  cosignPayload,
  cosignSignPayload,
  generateKey,
  generateLabPki,
  loadLabPki,
  MEDIA_TYPES,
  parseManifestBytes,
  pkiSigningIdentity,
  serializeManifest,
  pushCosignSignature,
  RegistryClient,
  signImageInRegistry,
  verifyCosignImage,
  verifyImageInRegistry,
  type Clock,
  type CosignVerification,
  type LabPki,
  type OciManifest,
  type PayloadFormat,
  type SignedImage,
  type VerificationResult,
} from '../signer/index.ts';
import { REGISTRY_HOST, type LabNodeHandle } from '../node/index.ts';
import type { ExecResult } from '../exec.ts';

const systemClock: Clock = () => new Date();

export function registryClient(node: LabNodeHandle): RegistryClient {
  return new RegistryClient(node.registryUrl);
}

/** The lab's PKI: root → intermediate → signing certificate, made on first use. */
export async function labPki(node: LabNodeHandle, clock: Clock = systemClock): Promise<LabPki> {
  const dir = join(node.stateDir, 'pki');
  return existsSync(dir) ? loadLabPki(dir) : generateLabPki(dir, { clock });
}

/** A second, unrelated PKI (an attacker's or another vendor's), in the lab's state directory. */
export async function foreignPki(node: LabNodeHandle, name: string, options: { clock?: Clock; validityDays?: { signing?: number } } = {}): Promise<LabPki> {
  return generateLabPki(join(node.stateDir, `pki-${name}`), { clock: options.clock ?? systemClock, subject: name, validityDays: options.validityDays });
}

/** Computes the layers' root hashes the way the node will, annotates, signs and pushes back under the tag. */
export async function signImage(
  node: LabNodeHandle,
  repository: string,
  tag: string,
  options: { format?: PayloadFormat; pki?: LabPki; clock?: Clock } = {},
): Promise<SignedImage> {
  const pki = options.pki ?? (await labPki(node));
  return signImageInRegistry({
    client: registryClient(node),
    repository,
    tag,
    identity: pkiSigningIdentity(pki),
    format: options.format ?? 'v2',
    clock: options.clock ?? systemClock,
    exec: node.exec,
    workDir: node.shareDir,
  });
}

/**
 * Signs an image once and gives every node the same signed manifest (a kind
 * cluster's nodes each have their own registry; the scheduler picks the
 * node). The image must be pushed to each node already.
 */
export async function signImageOnNodes(
  nodes: readonly LabNodeHandle[],
  repository: string,
  tag: string,
  options: { format?: PayloadFormat; pki?: LabPki; clock?: Clock } = {},
): Promise<SignedImage> {
  const [first, ...rest] = nodes;
  if (!first) throw new Error('signImageOnNodes: no node to sign on');
  const signed = await signImage(first, repository, tag, options);
  const fetched = await registryClient(first).getManifest(repository, signed.digest);
  for (const node of rest) await registryClient(node).putManifest(repository, tag, fetched.bytes, fetched.mediaType);
  return signed;
}

/** Verifies an image in the node registry against the lab's trusted roots. */
export async function verifyImage(
  node: LabNodeHandle,
  repository: string,
  reference: string,
  options: { clock?: Clock; recompute?: boolean } = {},
): Promise<VerificationResult> {
  const pki = await labPki(node);
  return verifyImageInRegistry({
    client: registryClient(node),
    repository,
    reference,
    trustedRoots: [pki.root.certificatePem],
    clock: options.clock ?? systemClock,
    ...(options.recompute ? { recompute: { exec: node.exec, workDir: node.shareDir } } : {}),
  });
}

// ------------------------------------------------------------------ cosign

export interface CosignKey {
  /** Public key PEM, also written to `publicKeyPath` in the shared directory. */
  publicKeyPem: string;
  publicKeyPath: string;
}

const COSIGN_FLAGS = {
  // cosign 3 works offline against a loopback registry with these (FACTS.md).
  sign: ['--tlog-upload=false', '--use-signing-config=false', '--allow-insecure-registry', '--new-bundle-format=false', '-y'],
  verify: ['--insecure-ignore-tlog=true', '--allow-insecure-registry', '--new-bundle-format=false'],
};

/** Signs an image the cosign way with a key made by the lab, and pushes the `.sig` tag. */
export async function labCosignSign(node: LabNodeHandle, repository: string, digest: string): Promise<CosignKey> {
  const key = await generateKey();
  const payload = cosignPayload(`${REGISTRY_HOST}/${repository}`, digest);
  await pushCosignSignature(registryClient(node), repository, digest, { payload, signatureB64: await cosignSignPayload(payload, key) });
  const publicKeyPath = join(node.shareDir, `lab-cosign-${digest.slice(7, 19)}.pub`);
  const publicKeyPem = key.publicKeyPem();
  await writeFile(publicKeyPath, publicKeyPem);
  return { publicKeyPem, publicKeyPath };
}

/** The real cosign binary in the node: makes a key pair (empty password) in the shared directory. */
export async function nodeCosignKeyPair(node: LabNodeHandle, name: string): Promise<CosignKey & { privateKeyPath: string }> {
  const prefix = join(node.shareDir, `cosign-${name}`);
  // The private key stays in the lab's shared directory, removed with the lab.
  await node.run(['env', 'COSIGN_PASSWORD=', 'cosign', 'generate-key-pair', `--output-key-prefix=${prefix}`]);
  const publicKeyPath = `${prefix}.pub`;
  return { publicKeyPath, publicKeyPem: (await node.readFile(publicKeyPath)).toString(), privateKeyPath: `${prefix}.key` };
}

export async function nodeCosignSign(node: LabNodeHandle, repository: string, digest: string, privateKeyPath: string): Promise<ExecResult> {
  return node.run(['env', 'COSIGN_PASSWORD=', 'cosign', 'sign', '--key', privateKeyPath, ...COSIGN_FLAGS.sign, `${REGISTRY_HOST}/${repository}@${digest}`]);
}

/** `cosign verify --key` in the node; resolves with the result whatever the exit code. */
export async function nodeCosignVerify(node: LabNodeHandle, repository: string, digest: string, publicKeyPath: string): Promise<ExecResult> {
  return node.exec.run(['cosign', 'verify', '--key', publicKeyPath, ...COSIGN_FLAGS.verify, `${REGISTRY_HOST}/${repository}@${digest}`]);
}

export async function labCosignVerify(node: LabNodeHandle, repository: string, digest: string, publicKeyPem: string): Promise<CosignVerification> {
  return verifyCosignImage(registryClient(node), repository, digest, publicKeyPem);
}

// ------------------------------------------------------ tampered manifests

/**
 * Pushes a manifest changed after signing under `<tag>-tampered`, as an
 * attacker with write access to the registry would, and returns its digest.
 * For a layer swap the attacker first uploads a layer of its own.
 */
export async function pushTamperedManifest(
  node: LabNodeHandle,
  repository: string,
  tag: string,
  tamper: (signed: OciManifest, attackerLayer: string) => { manifest: OciManifest; change: string },
): Promise<{ digest: string; change: string; manifest: OciManifest }> {
  const client = registryClient(node);
  const signed = parseManifestBytes((await client.getManifest(repository, tag)).bytes, `${repository}:${tag}`);
  const attackerLayer = await client.putBlob(repository, gzipSync(buildTar([{ type: 'file', path: '/app/message', content: Buffer.from('attacker layer\n') }])));
  const { manifest, change } = tamper(signed, attackerLayer);
  const digest = await client.putManifest(repository, `${tag}-tampered`, serializeManifest(manifest), MEDIA_TYPES.ociManifest);
  return { digest, change, manifest };
}
