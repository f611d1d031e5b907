/**
 * The lab PKI: root CA → intermediate CA → {image signing certificate,
 * admission webhook TLS certificate}, all ECDSA P-256 with SHA-256.
 *
 * Profile (RFC 5280 §4.2.1.3 keyUsage, §4.2.1.9 basicConstraints,
 * §4.2.1.12 extKeyUsage, §4.2.1.6 subjectAltName):
 *   root CA          CA:true pathLen:1, keyCertSign|cRLSign (critical)
 *   intermediate CA  CA:true pathLen:0, keyCertSign|cRLSign (critical)
 *   image signer     CA:false, digitalSignature (critical), EKU codeSigning
 *   webhook TLS      CA:false, digitalSignature (critical), EKU serverAuth, SAN DNS/IP
 *
 * Each lab makes its own PKI in its own directory; nothing is shared and no
 * key is committed. Private keys live in `PrivateKey` objects whose key
 * material is reachable only from this module: JSON.stringify, util.inspect
 * and String() of any object returned here show no key bytes.
 */
import { KeyObject, createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, webcrypto } from 'node:crypto';
import { lstat, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { LabError } from '../errors.ts';
import type { SignerErrorCode } from './errors.ts';
import * as x509 from './x509.ts';

export type Clock = () => Date;

/** Where each file of a lab PKI lives, relative to its directory. */
export const PKI_FILES = {
  rootCert: 'root-ca.pem',
  rootKey: 'root-ca.key',
  intermediateCert: 'intermediate-ca.pem',
  intermediateKey: 'intermediate-ca.key',
  signingCert: 'signing.pem',
  signingKey: 'signing.key',
  tlsCert: 'webhook-tls.pem',
  tlsKey: 'webhook-tls.key',
} as const;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

// Key material never leaves this map except through the functions below.
const keyMaterial = new WeakMap<PrivateKey, KeyObject>();

/**
 * An ECDSA P-256 private key that signs but does not show itself. It has no
 * enumerable properties; toJSON, toString and util.inspect print a
 * placeholder.
 */
export class PrivateKey {
  constructor(key: KeyObject) {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new LabError<SignerErrorCode>(
        'SIGNER_KEY_INVALID',
        `private key: expected an EC P-256 private key, got ${key.type} ${key.asymmetricKeyType ?? 'secret'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
      );
    }
    keyMaterial.set(this, key);
  }

  /** ECDSA P-256 over SHA-256(message), ASN.1 DER encoded (as Go's ecdsa.SignASN1 and sigstore write it). */
  async sign(message: Uint8Array): Promise<Buffer> {
    return nodeSign('sha256', message, { key: material(this), dsaEncoding: 'der' });
  }

  /** SPKI DER of the matching public key. */
  publicKeyDer(): Buffer {
    return createPublicKey(material(this)).export({ format: 'der', type: 'spki' });
  }

  /** PEM SPKI of the matching public key (the format cosign's `--key` takes for verification). */
  publicKeyPem(): string {
    return createPublicKey(material(this)).export({ format: 'pem', type: 'spki' }).toString();
  }

  toJSON(): string {
    return '[PrivateKey ECDSA P-256, redacted]';
  }

  toString(): string {
    return this.toJSON();
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

function material(key: PrivateKey): KeyObject {
  const k = keyMaterial.get(key);
  if (k === undefined) throw new LabError<SignerErrorCode>('SIGNER_KEY_INVALID', 'private key: not created by lab/signer');
  return k;
}

/** A certificate (PEM) with its private key. */
export interface CertifiedKey {
  certificatePem: string;
  key: PrivateKey;
}

export interface LabPki {
  /** The directory the PKI lives in. */
  dir: string;
  root: CertifiedKey;
  intermediate: CertifiedKey;
  /** The image signing certificate (codeSigning). */
  signing: CertifiedKey;
  /** The admission webhook's serving certificate (serverAuth). */
  tls: CertifiedKey;
  /** PEM of the intermediate(s), leaf's issuer first: the `.chain` annotation and a TLS chain. */
  chainPem: string;
}

export interface GeneratePkiOptions {
  /** Validity starts at clock(); injected so that tests are deterministic. */
  clock: Clock;
  /** Name used in every subject (`CN=<subject> root CA`, …). Default `integrity-lab`. */
  subject?: string;
  /** Validity in days. Defaults: root 3650, intermediate 1825, signing 365, tls 365. */
  validityDays?: Partial<Record<'root' | 'intermediate' | 'signing' | 'tls', number>>;
  /** Names the webhook's TLS certificate serves. Default DNS `localhost`, IP `127.0.0.1`. */
  tls?: { dnsNames?: string[]; ipAddresses?: string[] };
  /** Random source for serial numbers. Default crypto.randomBytes. */
  random?: (size: number) => Buffer;
  /** Key generator. Default WebCrypto ECDSA P-256. */
  generateKey?: () => Promise<KeyObject>;
}

/** What a certificate may do. Used by the lab's own profile and by tests that need a bad one. */
export interface CertificateProfile {
  ca: boolean;
  pathLength?: number;
  keyUsage: number;
  extendedKeyUsage?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
}

export const PROFILES = {
  rootCa: { ca: true, pathLength: 1, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign },
  intermediateCa: { ca: true, pathLength: 0, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign },
  codeSigning: { ca: false, keyUsage: x509.KeyUsageFlags.digitalSignature, extendedKeyUsage: [x509.ExtendedKeyUsage.codeSigning] },
  serverAuth: { ca: false, keyUsage: x509.KeyUsageFlags.digitalSignature, extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth] },
} satisfies Record<string, CertificateProfile>;

export interface IssueOptions {
  /** Distinguished name, e.g. `CN=integrity-lab image signer, O=integrity-lab`. */
  subject: string;
  profile: CertificateProfile;
  /** The subject's key (its public half goes in the certificate). */
  key: PrivateKey;
  /** The issuer; absent means self-signed with `key`. */
  issuer?: CertifiedKey;
  notBefore: Date;
  notAfter: Date;
  /** Serial number bytes; the top bit is cleared so the INTEGER is positive (RFC 5280 §4.1.2.2). */
  serial: Buffer;
}

/** Issues one certificate. Exposed so that tests can build certificates the lab profile would refuse. */
export async function issueCertificate(options: IssueOptions): Promise<string> {
  const { profile } = options;
  const subjectPublic = await toPublicCryptoKey(options.key);
  const signerKey = options.issuer?.key ?? options.key;
  const signingKey = (await material(signerKey).toCryptoKey(EC_P256, false, ['sign'])) as unknown as CryptoKey;
  const issuerCert = options.issuer === undefined ? undefined : new x509.X509Certificate(options.issuer.certificatePem);
  const issuerPublic = issuerCert?.publicKey ?? subjectPublic;

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(profile.ca, profile.ca ? profile.pathLength : undefined, true),
    new x509.KeyUsagesExtension(profile.keyUsage, true),
    await x509.SubjectKeyIdentifierExtension.create(subjectPublic, false, webcrypto as unknown as Crypto),
    await x509.AuthorityKeyIdentifierExtension.create(issuerPublic, false, webcrypto as unknown as Crypto),
  ];
  if (profile.extendedKeyUsage !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(profile.extendedKeyUsage, false));
  const names = [
    ...(profile.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(profile.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const serial = Buffer.from(options.serial);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  if (serial[0] === 0) serial[0] = 0x01; // keep the encoding minimal and non-zero
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial.toString('hex'),
      subject: options.subject,
      issuer: issuerCert?.subjectName ?? options.subject,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      publicKey: subjectPublic,
      signingKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions,
    },
    webcrypto as unknown as Crypto,
  );
  return cert.toString('pem') + '\n';
}

/** Generates a fresh ECDSA P-256 key. */
export async function generateKey(): Promise<PrivateKey> {
  return new PrivateKey(await defaultKeyGenerator());
}

async function defaultKeyGenerator(): Promise<KeyObject> {
  const pair = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  return KeyObject.from(pair.privateKey);
}

async function toPublicCryptoKey(key: PrivateKey): Promise<CryptoKey> {
  return (await createPublicKey(material(key)).toCryptoKey(EC_P256, true, ['verify'])) as unknown as CryptoKey;
}

const SUBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,47}$/;

/**
 * Generates a lab PKI into `dir` (created with mode 0700 if missing).
 * Certificates are written as PEM (0644), private keys as PKCS#8 PEM (0600),
 * each file created exclusively: an existing PKI is never overwritten
 * (PKI_EXISTS), and a planted symlink is not followed.
 */
export async function generateLabPki(dir: string, options: GeneratePkiOptions): Promise<LabPki> {
  const name = options.subject ?? 'integrity-lab';
  if (!SUBJECT_NAME.test(name)) {
    throw new LabError<SignerErrorCode>(
      'PKI_BAD_OPTIONS',
      `generateLabPki: subject: expected 1-48 characters of letters, digits, space, ".", "_" or "-", got ${JSON.stringify(name)}`,
    );
  }
  const days = { root: 3650, intermediate: 1825, signing: 365, tls: 365, ...options.validityDays };
  for (const [role, n] of Object.entries(days)) {
    if (!Number.isFinite(n) || n <= 0) {
      throw new LabError<SignerErrorCode>('PKI_BAD_OPTIONS', `generateLabPki: validityDays.${role}: expected a positive number, got ${n}`);
    }
  }
  const random = options.random ?? randomBytes;
  const newKey = async (): Promise<PrivateKey> => new PrivateKey(await (options.generateKey ?? defaultKeyGenerator)());
  const notBefore = options.clock();
  const until = (n: number): Date => new Date(notBefore.getTime() + n * DAY_MS);
  const dn = (role: string): string => `CN=${name} ${role}, O=integrity-lab`;

  const rootKey = await newKey();
  const root: CertifiedKey = {
    key: rootKey,
    certificatePem: await issueCertificate({
      subject: dn('root CA'), profile: PROFILES.rootCa, key: rootKey,
      notBefore, notAfter: until(days.root), serial: random(16),
    }),
  };
  const intermediateKey = await newKey();
  const intermediate: CertifiedKey = {
    key: intermediateKey,
    certificatePem: await issueCertificate({
      subject: dn('intermediate CA'), profile: PROFILES.intermediateCa, key: intermediateKey, issuer: root,
      notBefore, notAfter: until(days.intermediate), serial: random(16),
    }),
  };
  const signingKey = await newKey();
  const signing: CertifiedKey = {
    key: signingKey,
    certificatePem: await issueCertificate({
      subject: dn('image signer'), profile: PROFILES.codeSigning, key: signingKey, issuer: intermediate,
      notBefore, notAfter: until(days.signing), serial: random(16),
    }),
  };
  const tlsKey = await newKey();
  const tls: CertifiedKey = {
    key: tlsKey,
    certificatePem: await issueCertificate({
      subject: dn('admission webhook'),
      profile: {
        ...PROFILES.serverAuth,
        dnsNames: options.tls?.dnsNames ?? ['localhost'],
        ipAddresses: options.tls?.ipAddresses ?? ['127.0.0.1'],
      },
      key: tlsKey, issuer: intermediate,
      notBefore, notAfter: until(days.tls), serial: random(16),
    }),
  };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: Array<[string, string | PrivateKey]> = [
    [PKI_FILES.rootCert, root.certificatePem], [PKI_FILES.rootKey, root.key],
    [PKI_FILES.intermediateCert, intermediate.certificatePem], [PKI_FILES.intermediateKey, intermediate.key],
    [PKI_FILES.signingCert, signing.certificatePem], [PKI_FILES.signingKey, signing.key],
    [PKI_FILES.tlsCert, tls.certificatePem], [PKI_FILES.tlsKey, tls.key],
  ];
  for (const [file] of files) {
    const exists = await lstat(join(dir, file)).then(() => true, () => false);
    if (exists) {
      throw new LabError<SignerErrorCode>('PKI_EXISTS', `generateLabPki: ${join(dir, file)} already exists; refusing to overwrite a lab PKI`);
    }
  }
  for (const [file, content] of files) {
    if (typeof content === 'string') await writeExclusive(join(dir, file), content, 0o644);
    else await writeExclusive(join(dir, file), pkcs8Pem(content), 0o600);
  }
  return { dir, root, intermediate, signing, tls, chainPem: intermediate.certificatePem };
}

/**
 * Loads a lab PKI written by generateLabPki. Refuses key files that group or
 * others can read (PKI_KEY_PERMISSIONS) and keys that do not match their
 * certificate (PKI_KEY_MISMATCH).
 */
export async function loadLabPki(dir: string): Promise<LabPki> {
  const cert = async (file: string): Promise<string> => {
    const text = await readRequired(join(dir, file));
    try {
      new x509.X509Certificate(text);
    } catch (err) {
      throw new LabError<SignerErrorCode>('PKI_BAD_PEM', `loadLabPki: ${join(dir, file)}: expected a PEM certificate, it does not parse`, { cause: err });
    }
    return text;
  };
  const pair = async (certFile: string, keyFile: string): Promise<CertifiedKey> => {
    const certificatePem = await cert(certFile);
    const key = await readKey(join(dir, keyFile));
    const certSpki = Buffer.from(new x509.X509Certificate(certificatePem).publicKey.rawData);
    if (!certSpki.equals(key.publicKeyDer())) {
      throw new LabError<SignerErrorCode>(
        'PKI_KEY_MISMATCH',
        `loadLabPki: ${join(dir, keyFile)} is not the private key of ${join(dir, certFile)} (public keys differ)`,
      );
    }
    return { certificatePem, key };
  };
  const root = await pair(PKI_FILES.rootCert, PKI_FILES.rootKey);
  const intermediate = await pair(PKI_FILES.intermediateCert, PKI_FILES.intermediateKey);
  const signing = await pair(PKI_FILES.signingCert, PKI_FILES.signingKey);
  const tls = await pair(PKI_FILES.tlsCert, PKI_FILES.tlsKey);
  return { dir, root, intermediate, signing, tls, chainPem: intermediate.certificatePem };
}

/** Loads only the trust anchor of a lab PKI: what a verifier needs, without touching any key. */
export async function loadTrustedRoots(dir: string): Promise<string[]> {
  return [await readRequired(join(dir, PKI_FILES.rootCert))];
}

async function readRequired(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new LabError<SignerErrorCode>('PKI_MISSING_FILE', `lab PKI: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

async function readKey(path: string): Promise<PrivateKey> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new LabError<SignerErrorCode>('PKI_MISSING_FILE', `lab PKI: cannot stat ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new LabError<SignerErrorCode>(
      'PKI_KEY_PERMISSIONS',
      `lab PKI: ${path}: expected mode 0600 (no group or other access), got 0${(mode & 0o777).toString(8)}`,
    );
  }
  const text = await readRequired(path);
  try {
    return new PrivateKey(createPrivateKey({ key: text, format: 'pem' }));
  } catch (err) {
    if (err instanceof LabError) throw err;
    // The parser's message could quote the input; say only where and what.
    throw new LabError<SignerErrorCode>('PKI_BAD_PEM', `lab PKI: ${path}: expected a PKCS#8 PEM EC private key, it does not parse`);
  }
}

function pkcs8Pem(key: PrivateKey): string {
  return material(key).export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function writeExclusive(path: string, content: string, mode: number): Promise<void> {
  // 'wx' = O_CREAT|O_EXCL: fails on an existing file or a symlink planted in its place.
  const handle = await open(path, 'wx', mode).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new LabError<SignerErrorCode>('PKI_EXISTS', `generateLabPki: ${path} appeared while writing; refusing to overwrite it`, { cause: err });
    throw err;
  });
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(mode); // the umask may have removed bits we asked for; never adds any
  } finally {
    await handle.close();
  }
}
