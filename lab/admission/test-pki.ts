/**
 * A throwaway CA and serving certificate, in memory, for tests and the
 * benchmark until the lab PKI (lab/signer) provides the real one. Keys are
 * generated at run time and never written anywhere by this module.
 */
import { webcrypto } from 'node:crypto';
// lab/signer's entry point to @peculiar/x509 installs the Reflect shim first.
import * as x509 from '../signer/x509.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface ThrowawayPki {
  /** PEM of the self-signed CA: the webhook's caBundle. */
  caPem: string;
  /** PEM of the serving certificate, signed by the CA. */
  certPem: string;
  /** PKCS#8 PEM of the serving key. */
  keyPem: string;
}

export interface ThrowawayPkiOptions {
  /** SubjectAltName DNS names. Default: localhost and the lab webhook service name. */
  dnsNames?: string[];
  /** SubjectAltName IPs. Default: 127.0.0.1 and ::1. */
  ips?: string[];
  /** Validity start; default now minus a minute. */
  notBefore?: Date;
  /** Validity in days; default 1. */
  days?: number;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export async function createThrowawayPki(options: ThrowawayPkiOptions = {}): Promise<ThrowawayPki> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + (options.days ?? 1) * 86_400_000);
  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=integrity-lab throwaway admission CA',
    notBefore,
    notAfter,
    keys: caKeys as CryptoKeyPair,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey as CryptoKey),
    ],
  });
  const leafKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const names = [
    ...(options.dnsNames ?? ['localhost', 'integrity-webhook.integrity-admission.svc']).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? ['127.0.0.1', '::1']).map((value) => ({ type: 'ip' as const, value })),
  ];
  const leaf = await x509.X509CertificateGenerator.create({
    subject: 'CN=integrity-webhook.integrity-admission.svc',
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingKey: caKeys.privateKey as CryptoKey,
    publicKey: leafKeys.publicKey as CryptoKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey as CryptoKey),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey as CryptoKey);
  return { caPem: ca.toString('pem') + '\n', certPem: leaf.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', keyDer) };
}
