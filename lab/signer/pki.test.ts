import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { PKI_FILES, generateLabPki, loadLabPki } from './pki.ts';
import { NOW, clock, tempPki } from './test-fixtures.ts';
import type { TempPki } from './test-fixtures.ts';
import * as x509 from './x509.ts';

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('generateLabPki', () => {
  let t: TempPki;
  before(async () => {
    t = await tempPki({ tls: { dnsNames: ['integrity-webhook.integrity-system.svc'], ipAddresses: ['127.0.0.1'] } });
  });
  after(() => t.cleanup());

  describe('when a lab makes its PKI', () => {
    it('writes private keys with mode 0600 and certificates as PEM', async () => {
      for (const file of [PKI_FILES.rootKey, PKI_FILES.intermediateKey, PKI_FILES.signingKey, PKI_FILES.tlsKey]) {
        assert.equal((await stat(join(t.dir, file))).mode & 0o777, 0o600, file);
        // The PEM marker is assembled so that no key-looking literal sits in the repository.
        assert.match(await readFile(join(t.dir, file), 'utf8'), new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
      }
      for (const file of [PKI_FILES.rootCert, PKI_FILES.intermediateCert, PKI_FILES.signingCert, PKI_FILES.tlsCert]) {
        assert.match(await readFile(join(t.dir, file), 'utf8'), /^-----BEGIN CERTIFICATE-----\n/);
      }
    });

    it('gives the signing certificate digitalSignature, codeSigning and CA:false', () => {
      const cert = new x509.X509Certificate(t.pki.signing.certificatePem);
      assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
      assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
      assert.deepEqual([...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.codeSigning]);
      assert.equal(cert.notBefore.getTime(), Math.floor(NOW.getTime() / 1000) * 1000);
      assert.equal(cert.issuer, new x509.X509Certificate(t.pki.intermediate.certificatePem).subject);
    });

    it('gives both CAs CA:true with keyCertSign and cRLSign', () => {
      for (const pem of [t.pki.root.certificatePem, t.pki.intermediate.certificatePem]) {
        const cert = new x509.X509Certificate(pem);
        assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, true);
        assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
      }
    });

    it('builds a chain that openssl accepts, and a TLS certificate with the asked-for names', async () => {
      const at = String(Math.floor(NOW.getTime() / 1000) + 60);
      const args = ['verify', '-x509_strict', '-attime', at, '-CAfile', join(t.dir, PKI_FILES.rootCert), '-untrusted', join(t.dir, PKI_FILES.intermediateCert)];
      assert.match(openssl([...args, join(t.dir, PKI_FILES.signingCert)]), /: OK/);
      assert.match(openssl([...args, '-purpose', 'sslserver', join(t.dir, PKI_FILES.tlsCert)]), /: OK/);
      const text = openssl(['x509', '-in', join(t.dir, PKI_FILES.tlsCert), '-noout', '-ext', 'subjectAltName,extendedKeyUsage']);
      assert.match(text, /DNS:integrity-webhook\.integrity-system\.svc/);
      assert.match(text, /IP Address:127\.0\.0\.1/);
      assert.match(text, /TLS Web Server Authentication/);
      // The signing certificate must not pass as a TLS server certificate.
      assert.throws(() => openssl([...args, '-purpose', 'sslserver', join(t.dir, PKI_FILES.signingCert)]));
    });

    it('shows no key material in JSON, inspect or String', async () => {
      const keyPem = await readFile(join(t.dir, PKI_FILES.signingKey), 'utf8');
      const keyB64 = keyPem.split('\n').slice(1, -2).join('');
      for (const text of [JSON.stringify(t.pki), inspect(t.pki, { depth: 10, showHidden: true }), String(t.pki.signing.key)]) {
        assert.doesNotMatch(text, /PRIVATE KEY/);
        assert.ok(!text.includes(keyB64.slice(0, 40)), 'PKCS#8 base64 must not appear');
        assert.ok(!text.includes(Buffer.from(keyB64, 'base64').subarray(36, 68).toString('hex')), 'raw key bytes must not appear');
      }
      assert.deepEqual(Object.keys(t.pki.signing.key), []);
    });
  });

  describe('when the directory already holds a PKI', () => {
    it('refuses to overwrite it', async () => {
      await assert.rejects(generateLabPki(t.dir, { clock }), (e) => isLabError(e, 'PKI_EXISTS'));
    });
  });

  describe('when a symlink is planted where a key will be written', () => {
    it('fails instead of writing through it', async () => {
      const parent = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        const dir = join(parent, 'pki');
        const victim = join(parent, 'victim');
        await writeFile(victim, 'untouched');
        await import('node:fs/promises').then((fs) => fs.mkdir(dir));
        await symlink(victim, join(dir, PKI_FILES.rootKey));
        await assert.rejects(generateLabPki(dir, { clock }), (e) => isLabError(e, 'PKI_EXISTS'));
        assert.equal(await readFile(victim, 'utf8'), 'untouched');
      } finally {
        await rm(parent, { recursive: true, force: true });
      }
    });
  });

  describe('when the subject would inject into the distinguished name', () => {
    it('rejects it', async () => {
      await assert.rejects(generateLabPki('/nonexistent', { clock, subject: 'lab, CN=evil' }), (e) => isLabError(e, 'PKI_BAD_OPTIONS'));
    });
  });
});

describe('loadLabPki', () => {
  describe('when the PKI is intact', () => {
    it('loads the same certificates and working keys', async () => {
      const t = await tempPki();
      try {
        const loaded = await loadLabPki(t.dir);
        assert.equal(loaded.signing.certificatePem, t.pki.signing.certificatePem);
        assert.equal(loaded.chainPem, t.pki.intermediate.certificatePem);
        assert.deepEqual(loaded.signing.key.publicKeyDer(), t.pki.signing.key.publicKeyDer());
      } finally {
        await t.cleanup();
      }
    });
  });

  describe('when a key file is readable by others', () => {
    it('refuses it with PKI_KEY_PERMISSIONS', async () => {
      const t = await tempPki();
      try {
        await chmod(join(t.dir, PKI_FILES.signingKey), 0o644);
        await assert.rejects(loadLabPki(t.dir), (e) => isLabError(e, 'PKI_KEY_PERMISSIONS') && /0644/.test(e.message));
      } finally {
        await t.cleanup();
      }
    });
  });

  describe('when a key does not belong to its certificate', () => {
    it('refuses it with PKI_KEY_MISMATCH', async () => {
      const t = await tempPki();
      try {
        const other = await readFile(join(t.dir, PKI_FILES.tlsKey), 'utf8');
        await rm(join(t.dir, PKI_FILES.signingKey));
        await writeFile(join(t.dir, PKI_FILES.signingKey), other, { mode: 0o600 });
        await assert.rejects(loadLabPki(t.dir), (e) => isLabError(e, 'PKI_KEY_MISMATCH'));
      } finally {
        await t.cleanup();
      }
    });
  });

  describe('when a file is missing', () => {
    it('says which', async () => {
      const t = await tempPki();
      try {
        await rm(join(t.dir, PKI_FILES.intermediateCert));
        await assert.rejects(loadLabPki(t.dir), (e) => isLabError(e, 'PKI_MISSING_FILE') && e.message.includes(PKI_FILES.intermediateCert));
      } finally {
        await t.cleanup();
      }
    });
  });
});
