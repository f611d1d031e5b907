import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Given, Then, When } from '@cucumber/cucumber';
import { tamperManifest, type ManifestTampering } from '../lab/attacks/index.ts';
import { inspectRootfs } from '../lab/node/index.ts';
import { ANNOTATIONS, type PayloadFormat, type VerificationResult } from '../lab/signer/index.ts';
import * as trust from '../lab/trust/index.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../lab/verity/index.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { labNodes, nodeOf, theNode } from './support/substrate.ts';

const DAY = 24 * 3600 * 1000;

async function signWorkload(world: LabWorld, workload: Workload, format: PayloadFormat, pki?: Awaited<ReturnType<typeof trust.labPki>>) {
  const { repository, tag } = workload.spec.image;
  const nodes = labNodes(world);
  for (const node of nodes) await node.pushImage(workload.spec.image);
  const signed = await trust.signImageOnNodes(nodes, repository, tag, { format, pki });
  world.signed.set(workload.metadata.name, signed);
  world.attachJson('signed-manifest', signed.manifest);
}

// Pushes the workload's image to every node's registry, computes each layer's root hash as the node will, annotates the manifest, signs it with
// the lab CA in the given format ("v2" or "delivery-kit") and pushes it back under the tag on every node; later steps read the signed digest.
Given('the lab signs the image of {workload} in the {format} format', async function (this: LabWorld, workload: Workload, format: PayloadFormat) {
  await signWorkload(this, workload, format);
});

// Same as `Given the lab signs the image of … in the … format`, but signed by a freshly generated CA ("untrusted-vendor") that is not among
// the lab's trusted roots. Fails on a kind cluster of more than one node.
Given('the image of {workload} is signed in the {format} format by a CA the lab does not trust', async function (this: LabWorld, workload: Workload, format: PayloadFormat) {
  await signWorkload(this, workload, format, await trust.foreignPki(theNode(this), 'untrusted-vendor'));
});

function recordVerification(world: LabWorld, result: VerificationResult): void {
  world.verification = result;
  world.attachJson('verification', result);
}

// Checks: the attached signature of the signed digest verifies against the lab root CA with no error finding.
Then('the signature of {workload} verifies against the lab\'s trusted roots', async function (this: LabWorld, workload: Workload) {
  const signed = this.signedImage(workload.metadata.name);
  recordVerification(this, await trust.verifyImage(theNode(this), workload.spec.image.repository, signed.digest));
  assert.ok(this.verification?.ok, `verification failed: ${JSON.stringify(this.verification?.findings)}`);
});

// Checks: one layer.erofs per manifest layer, and each file's dm-verity root hash equals (exact hex) the layer's signed root-hash annotation.
Then('the root hash of every layer.erofs of {workload} on the node matches its signed annotation', async function (this: LabWorld, workload: Workload) {
  const signed = this.signedImage(workload.metadata.name);
  const node = nodeOf(this, workload.metadata.name);
  const report = await inspectRootfs(node, this.pod(workload.metadata.name));
  // Lowerdirs are listed top layer first; manifest layers base first.
  const lowerdirs = [...report.layers].reverse();
  assert.equal(lowerdirs.length, signed.manifest.layers.length, 'one layer.erofs per manifest layer');
  const rows = [];
  for (const [i, layer] of signed.manifest.layers.entries()) {
    const copy = join(node.shareDir, `verify-layer-${i}.erofs`);
    await node.run(['cp', lowerdirs[i]!.layerFile, copy]);
    const onNode = (await computeRootHash(copy, DELIVERY_KIT_PARAMS)).toString('hex');
    const annotated = layer.annotations?.[ANNOTATIONS.rootHash];
    rows.push({ layer: layer.digest, layerFile: lowerdirs[i]!.layerFile, annotated, onNode });
  }
  this.attachJson('root-hashes', rows);
  for (const r of rows) assert.equal(r.onNode, r.annotated, `${r.layerFile}: root hash ${r.onNode} differs from the signed ${r.annotated}`);
});

// Reads the manifest under the workload's tag in the node's registry, uploads an attacker layer blob, applies the tampering ("annotation-edit",
// "layer-digest-swap", "root-hash-edit" or "key-value-shift") and pushes the result under `<tag>-tampered`, leaving the tag as it was;
// `Then verification of the tampered manifest …` verifies that digest.
When('the attacker changes the signed manifest of {workload} by {tampering}', async function (this: LabWorld, workload: Workload, how: ManifestTampering) {
  const { repository, tag } = workload.spec.image;
  const pushed = await trust.pushTamperedManifest(theNode(this), repository, tag, (m, attackerLayer) => tamperManifest(m, how, attackerLayer));
  this.tampered = { workload: workload.metadata.name, digest: pushed.digest };
  this.attachJson('tampered-manifest', { change: pushed.change, digest: pushed.digest, manifest: pushed.manifest });
});

async function verifyTampered(world: LabWorld): Promise<VerificationResult> {
  assert.ok(world.tampered, 'no manifest was tampered with in this scenario');
  const workload = world.catalog.workloads.get(world.tampered.workload)!.object as Workload;
  const result = await trust.verifyImage(theNode(world), workload.spec.image.repository, world.tampered.digest);
  recordVerification(world, result);
  return result;
}

// Checks: verification fails and the error findings include exactly this code.
Then('verification of the tampered manifest fails with {string}', async function (this: LabWorld, code: string) {
  const result = await verifyTampered(this);
  assert.equal(result.ok, false, 'the tampered manifest verified');
  const codes = result.findings.filter((f) => f.severity === 'error').map((f) => f.code);
  assert.ok(codes.includes(code as never), `expected finding ${code}, got ${codes.join(', ') || 'none'}`);
});

// Checks: verification of the tampered manifest succeeds (the weakness of the payload being demonstrated).
Then('verification of the tampered manifest still succeeds', async function (this: LabWorld) {
  const result = await verifyTampered(this);
  assert.equal(result.ok, true, `expected the delivery-kit payload to accept it, got ${JSON.stringify(result.findings)}`);
});

// Checks: verification fails with a finding of exactly this code.
Then('verification of {workload} fails with {string}', async function (this: LabWorld, workload: Workload, code: string) {
  const result = await trust.verifyImage(theNode(this), workload.spec.image.repository, this.signedImage(workload.metadata.name).digest);
  recordVerification(this, result);
  assert.equal(result.ok, false, 'the image verified');
  assert.ok(result.findings.some((f) => f.code === code), `expected finding ${code}, got ${result.findings.map((f) => f.code).join(', ')}`);
});

// Checks: with the clock moved forward, verification fails with a finding of exactly this code.
Then('verification of {workload} {int} days from now fails with {string}', async function (this: LabWorld, workload: Workload, days: number, code: string) {
  const clock = () => new Date(Date.now() + days * DAY);
  const result = await trust.verifyImage(theNode(this), workload.spec.image.repository, this.signedImage(workload.metadata.name).digest, { clock });
  recordVerification(this, result);
  assert.equal(result.ok, false, 'the image verified');
  assert.ok(result.findings.some((f) => f.code === code), `expected finding ${code}, got ${result.findings.map((f) => f.code).join(', ')}`);
});

// ------------------------------------------------------------- cosign

/** The key a verification step must use: the one of the signing step it names, never another. */
function signerKey(world: LabWorld, signer: 'lab' | 'vendor') {
  const key = world.cosignSigners.get(signer);
  if (!key) throw new Error(signer === 'lab' ? 'no cosign signature by the lab in this scenario: `When the lab signs the image of … the cosign way` must come first' : 'no cosign signature by a vendor key in this scenario: `When the cosign binary on the node signs the image of … with a vendor key` must come first');
  return key;
}

// Pushes the workload's image to the node's registry and signs its manifest digest with a key the lab generates itself (not the cosign binary),
// pushing the signature under cosign's signature tag; keeps the public key for `Then the cosign binary on the node verifies … with the lab's public key`.
When('the lab signs the image of {workload} the cosign way', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  const image = await node.pushImage(workload.spec.image);
  this.cosignSigners.set('lab', await trust.labCosignSign(node, workload.spec.image.repository, image.manifestDigest));
});

// Checks: `cosign verify --key` in the node exits 0.
Then('the cosign binary on the node verifies {workload} with the lab\'s public key', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  const image = await node.pushImage(workload.spec.image);
  const r = await trust.nodeCosignVerify(node, workload.spec.image.repository, image.manifestDigest, signerKey(this, 'lab').publicKeyPath);
  this.attachText('cosign-verify', `exit ${r.exitCode}\n${r.stderr}\n${r.stdout.toString()}`);
  assert.equal(r.exitCode, 0, `cosign verify exited ${r.exitCode}: ${r.stderr}`);
});

// Has the real cosign binary in the node make a "vendor" key pair (empty password) and sign the workload's manifest digest in the node's
// registry; fails if cosign exits non-zero. Keeps the public key for `Then the lab verifies the cosign signature of … with the vendor's public key`.
When('the cosign binary on the node signs the image of {workload} with a vendor key', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  const image = await node.pushImage(workload.spec.image);
  const key = await trust.nodeCosignKeyPair(node, 'vendor');
  const r = await trust.nodeCosignSign(node, workload.spec.image.repository, image.manifestDigest, key.privateKeyPath);
  this.attachText('cosign-sign', r.stderr);
  this.cosignSigners.set('vendor', key);
});

// Checks: the lab's own cosign verifier accepts the signature under that key.
Then('the lab verifies the cosign signature of {workload} with the vendor\'s public key', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  const image = await node.pushImage(workload.spec.image);
  const result = await trust.labCosignVerify(node, workload.spec.image.repository, image.manifestDigest, signerKey(this, 'vendor').publicKeyPem);
  this.attachJson('cosign-verification', result);
  assert.equal(result.ok, true, JSON.stringify(result.findings));
});

// Checks: the lab's cosign verifier refuses the signature under an unrelated key.
Then('the lab refuses the cosign signature of {workload} under another key', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  const image = await node.pushImage(workload.spec.image);
  const other = await trust.nodeCosignKeyPair(node, 'other');
  const result = await trust.labCosignVerify(node, workload.spec.image.repository, image.manifestDigest, other.publicKeyPem);
  this.attachJson('cosign-verification-other-key', result);
  assert.equal(result.ok, false, 'a signature verified under an unrelated key');
});
