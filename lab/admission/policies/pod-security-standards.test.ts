import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { decodeAdmissionObject, type Pod } from '../pod.ts';
import { checkPodSecurity, PodSecurityStandardsPolicy, type PssLevel } from './pod-security-standards.ts';

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }): Pod {
  const decoded = decodeAdmissionObject({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.object as Pod;
}

/** A pod that passes restricted: the baseline for mutations below. */
function restrictedPod(container: Record<string, unknown> = {}, podSc: Record<string, unknown> = {}): Pod {
  return pod({
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, ...podSc },
    containers: [
      { name: 'app', image: 'registry.lab/app:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, ...container } },
    ],
  });
}

function ids(level: PssLevel, p: Pod): string[] {
  return checkPodSecurity(level, p.metadata ?? {}, p.spec).map((f) => f.id);
}

describe('checkPodSecurity', () => {
  describe('when the pod follows restricted', () => {
    it('passes restricted and baseline', () => {
      assert.deepEqual(ids('restricted', restrictedPod()), []);
      assert.deepEqual(ids('baseline', restrictedPod()), []);
    });
  });

  describe('when a baseline control is broken', () => {
    const cases: [string, Pod, string][] = [
      ['hostNetwork', pod({ hostNetwork: true, containers: [{ name: 'a', image: 'x' }] }), 'hostNamespaces'],
      ['privileged', pod({ containers: [{ name: 'a', image: 'x', securityContext: { privileged: true } }] }), 'privileged'],
      ['SYS_ADMIN added', pod({ containers: [{ name: 'a', image: 'x', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }), 'capabilities_baseline'],
      ['hostPath volume', pod({ volumes: [{ name: 'v', hostPath: { path: '/' } }], containers: [{ name: 'a', image: 'x' }] }), 'hostPathVolumes'],
      ['hostPort', pod({ containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80, hostPort: 80 }] }] }), 'hostPorts'],
      ['AppArmor unconfined', pod({ containers: [{ name: 'a', image: 'x', securityContext: { appArmorProfile: { type: 'Unconfined' } } }] }), 'appArmorProfile'],
      ['SELinux user', pod({ securityContext: { seLinuxOptions: { user: 'root' } }, containers: [{ name: 'a', image: 'x' }] }), 'seLinuxOptions'],
      ['procMount Unmasked', pod({ containers: [{ name: 'a', image: 'x', securityContext: { procMount: 'Unmasked' } }] }), 'procMount'],
      ['seccomp Unconfined', pod({ securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [{ name: 'a', image: 'x' }] }), 'seccompProfile_baseline'],
      ['unsafe sysctl', pod({ securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] }, containers: [{ name: 'a', image: 'x' }] }), 'sysctls'],
      ['hostProcess', pod({ securityContext: { windowsOptions: { hostProcess: true } }, containers: [{ name: 'a', image: 'x' }] }), 'windowsHostProcess'],
      ['probe host', pod({ containers: [{ name: 'a', image: 'x', livenessProbe: { httpGet: { host: '10.0.0.1', port: 80 } } }] }), 'hostProbesAndHostLifecycle'],
    ];
    for (const [what, p, id] of cases) {
      it(`refuses ${what} at baseline with check ${id}`, () => {
        assert.deepEqual(ids('baseline', p), [id]);
      });
    }
    it('allows everything at privileged', () => {
      for (const [, p] of cases) assert.deepEqual(ids('privileged', p), []);
    });
  });

  describe('when a restricted-only control is broken', () => {
    it('refuses a missing allowPrivilegeEscalation=false', () => {
      assert.deepEqual(ids('restricted', restrictedPod({ allowPrivilegeEscalation: true })), ['allowPrivilegeEscalation']);
    });
    it('refuses runAsUser 0 and runAsNonRoot false', () => {
      assert.deepEqual(ids('restricted', restrictedPod({ runAsUser: 0 })), ['runAsUser']);
      assert.deepEqual(ids('restricted', restrictedPod({ runAsNonRoot: false })), ['runAsNonRoot']);
    });
    it('refuses adding anything but NET_BIND_SERVICE and a drop list without ALL', () => {
      assert.deepEqual(ids('restricted', restrictedPod({ capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } })), []);
      assert.deepEqual(ids('restricted', restrictedPod({ capabilities: { drop: ['ALL'], add: ['CHOWN'] } })), ['capabilities_restricted']);
      assert.deepEqual(ids('restricted', restrictedPod({ capabilities: { drop: ['NET_RAW'] } })), ['capabilities_restricted']);
    });
    it('refuses a missing seccomp profile', () => {
      assert.deepEqual(ids('restricted', restrictedPod({}, { seccompProfile: undefined })), ['seccompProfile_restricted']);
    });
    it('refuses a volume that smuggles hostPath next to an allowed source', () => {
      const p = restrictedPod();
      p.spec.volumes = [{ name: 'v', emptyDir: {}, hostPath: { path: '/etc' } } as never];
      assert.deepEqual(ids('restricted', p), ['restrictedVolumes']);
    });
  });

  describe('when the message is rendered', () => {
    it('reads like the PodSecurity admission plugin', () => {
      const policy = new PodSecurityStandardsPolicy();
      const [v] = policy.evaluate(restrictedPod({ privileged: true }), { name: 'ns', labels: { 'security.deckhouse.io/pod-policy': 'restricted' } });
      assert.equal(v?.mode, 'deny');
      assert.equal(
        v?.message,
        '[pod-security-standards] Pod "p" violates PodSecurity "restricted:latest": privileged (container "app" must not set securityContext.privileged=true)',
      );
    });
  });
});

describe('PodSecurityStandardsPolicy.evaluate', () => {
  const bad = pod({ containers: [{ name: 'a', image: 'x', securityContext: { privileged: true } }] });
  const ns = (labels: Record<string, string>) => ({ name: 'ns', labels });

  describe('when the namespace picks the mode', () => {
    it('denies in deny mode, warns in warn mode and records in dryrun mode', () => {
      const policy = new PodSecurityStandardsPolicy();
      assert.equal(policy.evaluate(bad, ns({}))[0]?.mode, 'deny');
      assert.equal(policy.evaluate(bad, ns({ 'security.deckhouse.io/pod-policy-action': 'warn' }))[0]?.mode, 'warn');
      assert.equal(policy.evaluate(bad, ns({ 'security.deckhouse.io/pod-policy-action': 'dryrun' }))[0]?.mode, 'dryrun');
    });
  });

  describe('when no label picks the level', () => {
    it('uses the configured default', () => {
      assert.equal(new PodSecurityStandardsPolicy({ defaultPolicy: 'privileged' }).evaluate(bad, ns({})).length, 0);
      assert.equal(new PodSecurityStandardsPolicy({ defaultPolicy: 'baseline' }).evaluate(bad, ns({})).length, 1);
    });
  });

  describe('when the bypass label is present', () => {
    it('refuses the pod even in a privileged namespace', () => {
      const policy = new PodSecurityStandardsPolicy();
      const v = policy.evaluate(bad, ns({ 'security.deckhouse.io/pod-policy': 'privileged', 'security.deckhouse.io/skip-pss-check': 'true' }));
      assert.equal(v[0]?.mode, 'deny');
      assert.match(v[0]?.message ?? '', /skip-pss-check .* not honoured/);
    });
    it('refuses a pod carrying the label itself', () => {
      const p = pod({ containers: [{ name: 'a', image: 'x' }] }, { name: 'p', labels: { 'security.deckhouse.io/skip-pss-check': 'true' } });
      assert.equal(new PodSecurityStandardsPolicy().evaluate(p, ns({}))[0]?.mode, 'deny');
    });
  });

  describe('when a label value is unknown', () => {
    it('refuses instead of guessing', () => {
      const v = new PodSecurityStandardsPolicy().evaluate(bad, ns({ 'security.deckhouse.io/pod-policy': 'lenient' }));
      assert.equal(v[0]?.mode, 'deny');
      assert.match(v[0]?.message ?? '', /"lenient"/);
    });
  });
});

/**
 * Cross-check against the reference implementation's own fixture corpus:
 * k8s.io/pod-security-admission test/testdata/<level>/v<version>/{pass,fail}/*.yaml.
 * The corpus is not vendored (it is upstream content); point PSA_FIXTURES_DIR
 * at a checkout's test/testdata to run it, e.g.
 *   git clone https://github.com/kubernetes/pod-security-admission /tmp/psa
 *   PSA_FIXTURES_DIR=/tmp/psa/test/testdata node --import tsx --test lab/admission/policies/*.test.ts
 */
const FIXTURES = process.env['PSA_FIXTURES_DIR'];
const FIXTURE_VERSION = 'v1.37';
const RESTRICTED_OVERRIDES: Record<string, string> = {
  hostpathvolumes: 'restrictedvolumes',
  seccompprofile_baseline: 'seccompprofile_restricted',
  capabilities_baseline: 'capabilities_restricted',
  procmount: 'procmount_restricted',
};
const fixturesPresent = FIXTURES !== undefined && existsSync(join(FIXTURES, 'restricted', FIXTURE_VERSION));

describe('checkPodSecurity against the pod-security-admission fixtures', { skip: fixturesPresent ? false : 'PSA_FIXTURES_DIR is not set to a pod-security-admission test/testdata checkout' }, () => {
  for (const level of ['baseline', 'restricted'] as const) {
    for (const outcome of ['pass', 'fail'] as const) {
      describe(`when a ${level} ${outcome} fixture is checked`, () => {
        const dir = join(FIXTURES ?? '', level, FIXTURE_VERSION, outcome);
        const files = fixturesPresent ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
        it(`has fixtures (${files.length})`, () => assert.ok(files.length > 5));
        for (const file of files) {
          it(`${outcome === 'pass' ? 'admits' : 'refuses'} ${file}`, () => {
            const decoded = decodeAdmissionObject(parse(readFileSync(join(dir, file), 'utf8')));
            assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
            const failures = checkPodSecurity(level, decoded.object.metadata ?? {}, (decoded.object as Pod).spec);
            if (outcome === 'pass') {
              assert.deepEqual(failures, []);
            } else {
              // The file is named after the check it exercises (e.g. capabilities_baseline1.yaml);
              // at restricted, some baseline checks are replaced by their restricted version.
              const check = file.replace(/\d*\.yaml$/, '');
              const expected = level === 'restricted' ? (RESTRICTED_OVERRIDES[check] ?? check) : check;
              assert.ok(
                failures.some((f) => f.id.toLowerCase() === expected),
                `${file} should fail check ${expected} at ${level}, failed ${JSON.stringify(failures.map((f) => f.id))}`,
              );
            }
          });
        }
      });
    }
  }
});
