import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { canonicalJson } from './encoding.ts';
import type { OciManifest } from './manifest.ts';
import { V2_DOMAIN_SEPARATOR, declaredFormat, deliveryKitPayload, signingPayload, v2Payload } from './payload.ts';
import { sampleManifest } from './test-fixtures.ts';

/** The manifest of the documented test vectors (docs/signing.md), as each format signs it. */
function vectorManifest(format: 'delivery-kit' | 'v2'): OciManifest {
  const m = sampleManifest();
  if (format === 'v2') m.annotations = { ...m.annotations, 'io.integrity-lab.signature-format': 'v2' };
  return m;
}

// Published once in docs/signing.md; the private key was discarded after signing.
const VECTOR_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtDHJ1wxxxktccYg7JQjDX2lPmBTx
6Gdv6qaV1EvyTSuqbgJ7hM4ZOhdnIaErax98fvjDdjNlXwMFTi+zpM3U1Q==
-----END PUBLIC KEY-----
`;
const VECTORS = {
  'delivery-kit': {
    sha256: '6f30b8e8d5ad30b59a27f85cb3c01dc826b8d7d701048ce3dde1c20c17eb8938',
    length: 461,
    signature: 'MEUCIGtS8/9fca/kgruiOUtZj71Lbs0DBGJZObFClElZv+UvAiEAzpRcCl04tFkGoocM+dEP/O8zToVbb6BO2sHZ1sMiW5o=',
  },
  v2: {
    sha256: '4b62c63a187921a50e9536c764948b8cbf55e130dd49fb750a5795b53385f359',
    length: 1109,
    signature: 'MEUCIQCZONV/oA7AafA5yog0wmhsJfB/ClHV+j3l29Sh5WeEmAIgNJkZjcc92+qDlanzAmDksLZDJdol1K31HRHrW5TsG0o=',
  },
} as const;

/** An independent implementation of both formats in Python, from the spec text in docs/signing.md. */
function pythonPayload(manifest: OciManifest, format: 'delivery-kit' | 'v2'): string {
  const program = `
import hashlib, json, sys
m = json.load(sys.stdin)
fmt = sys.argv[1]
skip = {"io.deckhouse.delivery-kit.signature", "io.deckhouse.delivery-kit.cert", "io.deckhouse.delivery-kit.chain"}
if fmt == "delivery-kit":
    parts = [str(m["schemaVersion"]), m.get("mediaType", "")]
    parts += [m["config"]["digest"], m["config"]["mediaType"], str(m["config"]["size"])]
    for l in m["layers"]:
        parts += [l["digest"], l["mediaType"], str(l["size"])]
    ann = m.get("annotations", {})
    for k in sorted((k for k in ann if k not in skip), key=lambda k: k.encode()):
        parts += [k, ann[k]]
    payload = "".join(parts).encode()
else:
    if "annotations" in m:
        m["annotations"] = {k: v for k, v in m["annotations"].items() if k not in skip}
    payload = b"integrity-lab.io/manifest-signature/v2\\n" + json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
print(hashlib.sha256(payload).hexdigest())
`;
  return execFileSync('python3', ['-c', program, format], { input: JSON.stringify(manifest), encoding: 'utf8' }).trim();
}

describe('signingPayload', () => {
  describe('when given the documented test vector manifest', () => {
    for (const format of ['delivery-kit', 'v2'] as const) {
      it(`produces the documented ${format} payload digest`, () => {
        const p = signingPayload(vectorManifest(format), format);
        assert.equal(p.payloadSha256, VECTORS[format].sha256);
        assert.equal(p.payload.length, VECTORS[format].length);
      });

      it(`agrees with an independent Python implementation of ${format}`, () => {
        const m = vectorManifest(format);
        m.annotations = { ...m.annotations, 'io.deckhouse.delivery-kit.signature': 'ignored', 'zz.ü': 'ünïcode', 'Zz': 'upper' };
        assert.equal(signingPayload(m, format).payloadSha256, pythonPayload(m, format));
      });

      it(`verifies the documented ${format} signature with the documented public key`, () => {
        const p = signingPayload(vectorManifest(format), format);
        const key = createPublicKey(VECTOR_PUBLIC_KEY);
        assert.equal(verify('sha256', p.message, key, Buffer.from(VECTORS[format].signature, 'base64')), true);
        const other = format === 'v2' ? 'delivery-kit' : 'v2';
        assert.equal(verify('sha256', signingPayload(vectorManifest(other), other).message, key, Buffer.from(VECTORS[format].signature, 'base64')), false);
      });
    }

    it('signs the hex digest as ASCII for delivery-kit, as the SDK passes it to SignMessage', () => {
      const p = signingPayload(vectorManifest('delivery-kit'), 'delivery-kit');
      assert.equal(p.message.toString('ascii'), VECTORS['delivery-kit'].sha256);
    });

    it('writes the delivery-kit fields back to back, numbers in decimal, annotations sorted by key', () => {
      assert.equal(
        deliveryKitPayload(vectorManifest('delivery-kit')).toString('utf8'),
        '2application/vnd.docker.distribution.manifest.v2+json' +
          `sha256:${'c'.repeat(64)}application/vnd.docker.container.image.v1+json1469` +
          `sha256:${'1'.repeat(64)}application/vnd.docker.image.rootfs.diff.tar.gzip3623807` +
          `sha256:${'2'.repeat(64)}application/vnd.docker.image.rootfs.diff.tar.gzip32` +
          'a.bcdorg.opencontainers.image.titleapp',
      );
    });
  });

  describe('when characters move between an annotation key and its value (finding)', () => {
    const moved = (): OciManifest => {
      const m = sampleManifest();
      m.annotations = { 'org.opencontainers.image.title': 'app', 'a.bc': 'd' };
      return m;
    };

    it('leaves the delivery-kit digest unchanged', () => {
      assert.equal(signingPayload(moved(), 'delivery-kit').payloadSha256, signingPayload(sampleManifest(), 'delivery-kit').payloadSha256);
    });

    it('changes the v2 digest', () => {
      assert.notEqual(signingPayload(moved(), 'v2').payloadSha256, signingPayload(sampleManifest(), 'v2').payloadSha256);
    });
  });

  describe('when one annotation is split into two (finding)', () => {
    it('leaves the delivery-kit digest unchanged and changes v2', () => {
      const one = sampleManifest();
      one.annotations = { a: 'xbc=d' };
      const two = sampleManifest();
      two.annotations = { a: 'x', 'bc=': 'd' };
      assert.equal(signingPayload(one, 'delivery-kit').payloadSha256, signingPayload(two, 'delivery-kit').payloadSha256);
      assert.notEqual(signingPayload(one, 'v2').payloadSha256, signingPayload(two, 'v2').payloadSha256);
    });
  });

  describe('when a layer root hash annotation is edited', () => {
    const edited = (): OciManifest => {
      const m = sampleManifest();
      const layer = m.layers[0];
      assert.ok(layer?.annotations);
      layer.annotations['io.deckhouse.delivery-kit.dm-verity-root-hash'] = 'f'.repeat(64);
      return m;
    };

    it('leaves the delivery-kit digest unchanged: root hashes are not covered', () => {
      assert.equal(signingPayload(edited(), 'delivery-kit').payloadSha256, signingPayload(sampleManifest(), 'delivery-kit').payloadSha256);
    });

    it('changes the v2 digest', () => {
      assert.notEqual(signingPayload(edited(), 'v2').payloadSha256, signingPayload(sampleManifest(), 'v2').payloadSha256);
    });
  });

  describe('when only the signature annotations differ', () => {
    for (const format of ['delivery-kit', 'v2'] as const) {
      it(`gives the same ${format} payload`, () => {
        const signed = sampleManifest();
        signed.annotations = {
          ...signed.annotations,
          'io.deckhouse.delivery-kit.signature': 'AAAA',
          'io.deckhouse.delivery-kit.cert': 'BBBB',
          'io.deckhouse.delivery-kit.chain': 'CCCC',
        };
        assert.deepEqual(signingPayload(signed, format).payload, signingPayload(sampleManifest(), format).payload);
      });
    }
  });

  describe('when the manifest object lists its members in another order', () => {
    it('gives the same v2 payload', () => {
      const m = sampleManifest();
      const reordered = { annotations: m.annotations, layers: m.layers, config: m.config, mediaType: m.mediaType, schemaVersion: m.schemaVersion } as OciManifest;
      assert.deepEqual(v2Payload(reordered), v2Payload(m));
      assert.ok(v2Payload(m).toString('utf8').startsWith(V2_DOMAIN_SEPARATOR + '{"annotations":'));
    });
  });
});

describe('canonicalJson', () => {
  describe('when given nested data', () => {
    it('sorts members by UTF-16 code units and escapes as RFC 8785 says', () => {
      assert.equal(canonicalJson({ b: 1, a: [true, null, '\u000f"\\'], '\u20ac': 0, '\ud83d\ude00': 0, '\u0080': -0 }), '{"a":[true,null,"\\u000f\\"\\\\"],"b":1,"\u0080":0,"\u20ac":0,"\ud83d\ude00":0}');
    });
  });

  describe('when given something JSON cannot hold', () => {
    for (const [label, value] of [['NaN', Number.NaN], ['a lone surrogate', '\ud800'], ['a Date', new Date(0)]] as const) {
      it(`rejects ${label}`, () => {
        assert.throws(() => canonicalJson({ x: value }), (e) => isLabError(e, 'CANONICAL_JSON_UNSUPPORTED'));
      });
    }
  });
});

describe('declaredFormat', () => {
  describe('when the marker is absent', () => {
    it('is delivery-kit', () => assert.equal(declaredFormat(sampleManifest()), 'delivery-kit'));
  });
  describe('when the marker says v2', () => {
    it('is v2', () => assert.equal(declaredFormat(vectorManifest('v2')), 'v2'));
  });
  describe('when the marker names an unknown format', () => {
    it('throws UNSUPPORTED_FORMAT', () => {
      const m = sampleManifest();
      m.annotations = { 'io.integrity-lab.signature-format': 'v3' };
      assert.throws(() => declaredFormat(m), (e) => isLabError(e, 'UNSUPPORTED_FORMAT') && e.message.includes('"v3"'));
    });
  });
});
