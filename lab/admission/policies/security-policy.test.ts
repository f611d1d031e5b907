import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAdmissionObject, type AdmissionObject } from '../pod.ts';
import type { SecurityPolicies, SecurityPolicyDoc } from '../schema.ts';
import type { CosignVerifier, PolicyContext } from '../types.ts';
import { refuseAllImageVerifier } from '../verifiers.ts';
import { hostPathAllowedByPrefix, normalizeSysctlName, referenceMatches, SecurityPolicyPolicy, securityPolicyViolations } from './security-policy.ts';

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }): AdmissionObject {
  const d = decodeAdmissionObject({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
  if (!d.ok) throw new Error(d.reason);
  return d.object;
}
const c = (extra: Record<string, unknown> = {}) => ({ name: 'app', image: 'registry.lab/app:1', ...extra });
const sc = (securityContext: Record<string, unknown>) => c({ securityContext });

/** [field, policy, a pod it admits, a pod it refuses, text the refusal contains] */
const FIELD_CASES: [string, SecurityPolicies, AdmissionObject, AdmissionObject, string][] = [
  ['allowHostIPC', { allowHostIPC: false }, pod({ containers: [c()] }), pod({ hostIPC: true, containers: [c()] }), 'host IPC'],
  ['allowHostNetwork', { allowHostNetwork: false }, pod({ containers: [c()] }), pod({ hostNetwork: true, containers: [c()] }), 'host network'],
  ['allowHostPID', { allowHostPID: false }, pod({ hostPID: false, containers: [c()] }), pod({ hostPID: true, containers: [c()] }), 'host PID'],
  ['allowPrivileged', { allowPrivileged: false }, pod({ containers: [sc({ privileged: false })] }), pod({ containers: [sc({ privileged: true })] }), 'is privileged'],
  ['allowPrivilegeEscalation', { allowPrivilegeEscalation: false }, pod({ containers: [sc({ allowPrivilegeEscalation: false })] }), pod({ containers: [c()] }), 'allowPrivilegeEscalation=false, got unset'],
  ['allowedFlexVolumes', { allowedFlexVolumes: [{ driver: 'vmware' }] }, pod({ volumes: [{ name: 'v', flexVolume: { driver: 'vmware' } }], containers: [c()] }), pod({ volumes: [{ name: 'v', flexVolume: { driver: 'evil' } }], containers: [c()] }), 'flexVolume driver "evil"'],
  ['allowedHostPorts', { allowedHostPorts: [{ min: 2000, max: 4000 }] }, pod({ containers: [c({ ports: [{ containerPort: 1, hostPort: 3000 }] })] }), pod({ containers: [c({ ports: [{ containerPort: 1, hostPort: 80 }] })] }), 'hostPort 80'],
  ['allowedProcMount', { allowedProcMount: 'Default' }, pod({ containers: [sc({ procMount: 'Default' })] }), pod({ containers: [sc({ procMount: 'Unmasked' })] }), 'procMount "Unmasked"'],
  ['allowedAppArmor', { allowedAppArmor: ['runtime/default', 'localhost/*'] }, pod({ containers: [sc({ appArmorProfile: { type: 'Localhost', localhostProfile: 'p1' } })] }), pod({ containers: [c()] }, { name: 'p', annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' } }), 'AppArmor profile "unconfined"'],
  ['allowedUnsafeSysctls', { allowedUnsafeSysctls: ['kernel.*'] }, pod({ securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] }, containers: [c()] }), pod({ securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1' }] }, containers: [c()] }), 'sysctl net.core.somaxconn is not allowed'],
  ['forbiddenSysctls', { allowedUnsafeSysctls: ['*'], forbiddenSysctls: ['kernel.msg*'] }, pod({ securityContext: { sysctls: [{ name: 'kernel.shmmax', value: '1' }] }, containers: [c()] }), pod({ securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] }, containers: [c()] }), 'sysctl kernel.msgmax is forbidden'],
  ['allowedVolumes', { allowedVolumes: ['configMap', 'secret'] }, pod({ volumes: [{ name: 'v', secret: { secretName: 's' } }], containers: [c()] }), pod({ volumes: [{ name: 'v', nfs: { server: 'x', path: '/' } }], containers: [c()] }), 'type nfs'],
  ['allowedHostPaths', { allowedHostPaths: [{ pathPrefix: '/var/log', readOnly: true }] }, pod({ volumes: [{ name: 'l', hostPath: { path: '/var/log/app' } }], containers: [c({ volumeMounts: [{ name: 'l', mountPath: '/l', readOnly: true }] })] }), pod({ volumes: [{ name: 'l', hostPath: { path: '/var/log' } }], containers: [c({ volumeMounts: [{ name: 'l', mountPath: '/l' }] })] }), 'read-write'],
  ['fsGroup', { fsGroup: { rule: 'MustRunAs', ranges: [{ min: 100, max: 200 }] } }, pod({ securityContext: { fsGroup: 150 }, containers: [c()] }), pod({ containers: [c()] }), 'fsGroup within 100-200, got unset'],
  ['runAsUser MustRunAs', { runAsUser: { rule: 'MustRunAs', ranges: [{ min: 100, max: 200 }] } }, pod({ securityContext: { runAsUser: 100 }, containers: [c()] }), pod({ securityContext: { runAsUser: 100 }, containers: [sc({ runAsUser: 201 })] }), 'disallowed user 201'],
  ['runAsUser MustRunAsNonRoot', { runAsUser: { rule: 'MustRunAsNonRoot' } }, pod({ securityContext: { runAsNonRoot: true }, containers: [c()] }), pod({ containers: [c()] }), 'non-zero value or runAsNonRoot=true'],
  ['runAsGroup MayRunAs', { runAsGroup: { rule: 'MayRunAs', ranges: [{ min: 300, max: 500 }] } }, pod({ containers: [c()] }), pod({ containers: [sc({ runAsGroup: 0 })] }), 'runAsGroup 0 outside 300-500'],
  ['supplementalGroups', { supplementalGroups: { rule: 'MustRunAs', ranges: [{ min: 129, max: 133 }] } }, pod({ securityContext: { supplementalGroups: [130] }, containers: [c()] }), pod({ securityContext: { supplementalGroups: [130, 0] }, containers: [c()] }), 'supplementalGroups [0]'],
  ['readOnlyRootFilesystem', { readOnlyRootFilesystem: true }, pod({ containers: [sc({ readOnlyRootFilesystem: true })] }), pod({ containers: [c()] }), 'readOnlyRootFilesystem=true'],
  ['requiredDropCapabilities', { requiredDropCapabilities: ['NET_RAW', 'MKNOD'] }, pod({ containers: [sc({ capabilities: { drop: ['ALL'] } })] }), pod({ containers: [sc({ capabilities: { drop: ['NET_RAW'] } })] }), 'must drop capabilities [MKNOD]'],
  ['allowedCapabilities', { allowedCapabilities: ['NET_BIND_SERVICE'] }, pod({ containers: [sc({ capabilities: { add: ['NET_BIND_SERVICE'] } })] }), pod({ containers: [sc({ capabilities: { add: ['SYS_ADMIN'] } })] }), 'adds capabilities [SYS_ADMIN]'],
  ['seLinux', { seLinux: [{ type: '' }, { type: 'container_t' }] }, pod({ containers: [sc({ seLinuxOptions: { type: 'container_t' } })] }), pod({ containers: [sc({ seLinuxOptions: { type: 'spc_t' } })] }), 'matches no allowed entry'],
  ['seLinux user', { seLinux: [{ type: 'container_t' }] }, pod({ securityContext: { seLinuxOptions: { type: 'container_t' } }, containers: [c()] }), pod({ securityContext: { seLinuxOptions: { type: 'container_t', user: 'root' } }, containers: [c()] }), 'pod sets seLinuxOptions'],
  ['seccompProfiles undefined allowed', { seccompProfiles: { allowedProfiles: ['RuntimeDefault', 'undefined'] } }, pod({ containers: [c()] }), pod({ securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [c()] }), 'seccomp profile "Unconfined"'],
  ['seccompProfiles empty type', { seccompProfiles: { allowedProfiles: ['RuntimeDefault', ''] } }, pod({ securityContext: { seccompProfile: { type: '' } }, containers: [c()] }), pod({ containers: [c()] }), 'seccomp profile unset'],
  ['seccompProfiles localhost files', { seccompProfiles: { allowedProfiles: ['Localhost'], allowedLocalhostFiles: ['my_profile.json'] } }, pod({ containers: [sc({ seccompProfile: { type: 'Localhost', localhostProfile: 'my_profile.json' } })] }), pod({ containers: [sc({ seccompProfile: { type: 'Localhost', localhostProfile: 'other.json' } })] }), 'Localhost "other.json"'],
  ['seccompProfiles annotation', { seccompProfiles: { allowedProfiles: ['runtime/default'] } }, pod({ containers: [c()] }, { name: 'p', annotations: { 'seccomp.security.alpha.kubernetes.io/pod': 'docker/default' } }), pod({ containers: [c()] }, { name: 'p', annotations: { 'container.seccomp.security.alpha.kubernetes.io/app': 'unconfined' } }), '"Unconfined" (container annotation)'],
  ['automountServiceAccountToken', { automountServiceAccountToken: false }, pod({ automountServiceAccountToken: false, containers: [c()] }), pod({ containers: [c()] }), 'automountServiceAccountToken=false'],
];

describe('securityPolicyViolations', () => {
  for (const [field, policy, good, bad, text] of FIELD_CASES) {
    describe(`when ${field} is set`, () => {
      it('admits a conforming pod', () => assert.deepEqual(securityPolicyViolations(policy, good), []));
      it('refuses a pod that breaks it', () => {
        const v = securityPolicyViolations(policy, bad);
        assert.ok(v.some((m) => m.includes(text)), `expected a message containing ${JSON.stringify(text)}, got ${JSON.stringify(v)}`);
      });
    });
  }

  describe('when allowedHostPaths is an empty list', () => {
    it('refuses every hostPath (fail closed)', () => {
      const v = securityPolicyViolations({ allowedHostPaths: [] }, pod({ volumes: [{ name: 'h', hostPath: { path: '/tmp' } }], containers: [c()] }));
      assert.equal(v.length, 1);
    });
  });

  describe('when a workload is checked', () => {
    it('reads the pod template', () => {
      const d = decodeAdmissionObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { hostPID: true, containers: [c()] } } } });
      assert.ok(d.ok);
      assert.deepEqual(securityPolicyViolations({ allowHostPID: false }, d.object).length, 1);
    });
  });
});

describe('hostPathAllowedByPrefix', () => {
  describe('when the prefix is /foo', () => {
    it('allows /foo, /foo/ and /foo/bar but not /food', () => {
      assert.deepEqual(['/foo', '/foo/', '/foo/bar', '/food', '/etc/foo'].map((p) => hostPathAllowedByPrefix('/foo', p)), [true, true, true, false, false]);
    });
  });
  describe('when the path has a .. element', () => {
    it('is never allowed, as kube-apiserver refuses it', () => {
      assert.deepEqual(['/foo/../etc', '/foo/..', '/foo/bar/../../etc/shadow'].map((p) => hostPathAllowedByPrefix('/foo', p)), [false, false, false]);
      assert.equal(hostPathAllowedByPrefix('/', '/../etc'), false);
    });
  });
});

describe('referenceMatches', () => {
  describe('when the reference ends with *', () => {
    it('matches by prefix against the written and the normalised form', () => {
      assert.equal(referenceMatches('docker.io/myrepo/*', 'myrepo/app:1'), true);
      assert.equal(referenceMatches('registry.private.com/labs/application/*', 'registry.private.com/labs/application/app:1.0'), true);
      assert.equal(referenceMatches('registry.private.com/labs/*', 'registry.private.com/other/app'), false);
    });
  });
  describe('when the reference is absolute', () => {
    it('matches the repository whatever the tag', () => {
      assert.equal(referenceMatches('company.registry.com/nginx', 'company.registry.com/nginx:1.25'), true);
      assert.equal(referenceMatches('company.registry.com/nginx', 'company.registry.com/nginx-other:1'), false);
    });
  });
});

describe('SecurityPolicyPolicy.evaluate', () => {
  const doc = (policies: SecurityPolicies, enforcementAction?: 'Deny' | 'Warn' | 'Dryrun'): SecurityPolicyDoc => ({
    apiVersion: 'deckhouse.io/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name: 'sp' },
    spec: { ...(enforcementAction === undefined ? {} : { enforcementAction }), policies, match: { namespaceSelector: { labelSelector: { matchLabels: { enforce: 'sp' } } } } },
  });
  const cosign = (okKey: string): CosignVerifier => ({ verify: async (_img, key) => (key === okKey ? { ok: true } : { ok: false, reason: 'bad key' }) });
  const ctx = (v: CosignVerifier): PolicyContext => ({ operation: 'CREATE', imageVerifier: refuseAllImageVerifier, cosignVerifier: v });
  const selected = { name: 'ns', labels: { enforce: 'sp' } };
  const bad = pod({ hostPID: true, containers: [c()] });

  describe('when the namespace is not selected', () => {
    it('finds nothing', async () => {
      assert.deepEqual(await new SecurityPolicyPolicy(doc({ allowHostPID: false })).evaluate(bad, { name: 'ns', labels: {} }, ctx(cosign('k'))), []);
    });
  });
  describe('when enforcementAction is Warn', () => {
    it('reports a warn-mode violation prefixed with the policy name', async () => {
      const [v] = await new SecurityPolicyPolicy(doc({ allowHostPID: false }, 'Warn')).evaluate(bad, selected, ctx(cosign('k')));
      assert.equal(v?.mode, 'warn');
      assert.match(v?.message ?? '', /^\[sp\] sharing the host PID namespace/);
    });
  });
  describe('when verifyImageSignatures applies', () => {
    const policy = new SecurityPolicyPolicy(doc({ verifyImageSignatures: [{ reference: 'registry.lab/*', publicKeys: ['K-old', 'K-new'] }] }));
    it('admits an image signed by any listed key', async () => {
      assert.deepEqual(await policy.evaluate(pod({ containers: [c()] }), selected, ctx(cosign('K-new'))), []);
    });
    it('refuses with the Deckhouse message when no key verifies', async () => {
      const [v] = await policy.evaluate(pod({ containers: [c()] }), selected, ctx(cosign('K-other')));
      assert.match(v?.message ?? '', /^\[verify-image-signatures\] Image signature verification failed: registry\.lab\/app:1: /);
    });
    it('does not check images outside the reference', async () => {
      assert.deepEqual(await policy.evaluate(pod({ containers: [c({ image: 'elsewhere.io/app:1' })] }), selected, ctx(cosign('none'))), []);
    });
    it('checks an image that spells the registry in upper case or with :443', async () => {
      for (const image of ['REGISTRY.LAB/app:1', 'registry.lab:443/app:1']) {
        const [v] = await policy.evaluate(pod({ containers: [c({ image })] }), selected, ctx(cosign('K-other')));
        assert.match(v?.message ?? '', /Image signature verification failed/, image);
      }
    });
    it('refuses an image it cannot normalise instead of skipping it', async () => {
      const [v] = await policy.evaluate(pod({ containers: [c({ image: 'registry.lab/App:1' })] }), selected, ctx(cosign('K-new')));
      assert.match(v?.message ?? '', /cannot be normalised/);
    });
    it('checks the reference of an image volume', async () => {
      const p = pod({ containers: [c()], volumes: [{ name: 'data', image: { reference: 'registry.lab/unsigned:1' } }] });
      const signedOnlyApp: CosignVerifier = { verify: async (img) => (img === 'registry.lab/app:1' ? { ok: true } : { ok: false, reason: 'no signature' }) };
      const [v] = await policy.evaluate(p, selected, ctx(signedOnlyApp));
      assert.match(v?.message ?? '', /registry\.lab\/unsigned:1: .*no signature/);
    });
  });
});

describe('normalizeSysctlName', () => {
  it('turns the slash form into the dotted form, as kubelet does', () => {
    assert.deepEqual(['kernel/msgmax', 'kernel.msgmax', 'net/ipv4/conf/eth0.100/rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'].map(normalizeSysctlName), [
      'kernel.msgmax',
      'kernel.msgmax',
      'net.ipv4.conf.eth0/100.rp_filter',
      'net.ipv4.conf.eth0/100.rp_filter',
    ]);
  });
});

describe('securityPolicyViolations, normalised as kubelet and the API server read the pod', () => {
  it('forbids a sysctl written in slash form like its dotted form', () => {
    const p = (name: string) => pod({ securityContext: { sysctls: [{ name, value: '1' }] }, containers: [c()] });
    assert.equal(securityPolicyViolations({ forbiddenSysctls: ['kernel.msg*'] }, p('kernel/msgmax')).length, 1);
    assert.equal(securityPolicyViolations({ allowedUnsafeSysctls: ['net.core.somaxconn'] }, p('kernel/msgmax')).length, 1);
    assert.deepEqual(securityPolicyViolations({ allowedUnsafeSysctls: ['net.core.somaxconn'] }, p('net/core/somaxconn')), []);
  });
  it('refuses a hostPath that climbs out of an allowed prefix with ..', () => {
    const p = (path: string) => pod({ volumes: [{ name: 'h', hostPath: { path } }], containers: [c({ volumeMounts: [{ name: 'h', mountPath: '/h', readOnly: true }] })] });
    const policy = { allowedHostPaths: [{ pathPrefix: '/var/log', readOnly: true }] };
    assert.match(securityPolicyViolations(policy, p('/var/log/../../etc'))[0] ?? '', /contains '\.\.'/);
    assert.deepEqual(securityPolicyViolations(policy, p('/var//log/./pods')), []);
  });
});
