import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exec } from '../exec.ts';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localExec } from '../exec.ts';
import { buildSeccompDefault, containerdMismatch, localhostSeccomp, pinLocalhostProfiles, seccompDepartures, seccompReferenceContainerd, seccompReferences, type SeccompProfile, type SeccompReference } from './seccomp-reference.ts';

const profile = (): SeccompProfile => ({
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
  ],
});
const reference: SeccompReference = { containerd: 'v2.1.9', profile: profile() };

describe('seccompDepartures', () => {
  it('finds nothing when the record holds the profile itself', () => {
    assert.deepEqual(seccompDepartures(profile(), reference), []);
  });

  it('names a rule the attacker added, with the default action left as it was', () => {
    const loosened = profile();
    loosened.syscalls!.push({ names: ['unshare'], action: 'SCMP_ACT_ALLOW' });
    const [d] = seccompDepartures(loosened, reference);
    assert.match(d!, /containerd v2\.1\.9's RuntimeDefault profile/);
    assert.match(d!, /rules the profile does not have: unshare SCMP_ACT_ALLOW/);
  });

  it('names a rule whose argument condition was dropped', () => {
    const widened = profile();
    delete widened.syscalls![1]!.args;
    const [d] = seccompDepartures(widened, reference);
    assert.match(d!, /rules the profile does not have: personality SCMP_ACT_ALLOW;/);
    assert.match(d!, /without the profile's rules personality SCMP_ACT_ALLOW if/);
  });

  it('names a changed default action, and a missing profile', () => {
    assert.match(seccompDepartures({ ...profile(), defaultAction: 'SCMP_ACT_LOG' }, reference)[0]!, /defaultAction "SCMP_ACT_LOG" \(the profile's: "SCMP_ACT_ERRNO"\)/);
    assert.match(seccompDepartures(undefined, reference)[0]!, /linux\.seccomp missing/);
    assert.match(seccompDepartures(null, reference)[0]!, /linux\.seccomp missing/);
  });

  it('refuses the same rules in another order, which containerd does not write', () => {
    const reordered = profile();
    reordered.syscalls!.reverse();
    assert.match(seccompDepartures(reordered, reference)[0]!, /another order or form/);
  });
});

describe('seccompReferences', () => {
  const fakeExec = (answers: (() => { exitCode: number; stdout: string; stderr?: string })[]) => {
    const calls: string[][] = [];
    const exec: Exec = {
      async run(argv) {
        calls.push([...argv]);
        const a = answers.shift()!();
        return { exitCode: a.exitCode, stdout: Buffer.from(a.stdout), stderr: a.stderr ?? '' };
      },
    };
    return { exec, calls };
  };
  const ok = () => ({ exitCode: 0, stdout: JSON.stringify(reference) });

  it('asks the pinned helper once per bounding set', async () => {
    const { exec, calls } = fakeExec([ok, ok]);
    const refs = seccompReferences(() => '/proc/self/fd/9', exec);
    assert.deepEqual(await refs(['CAP_CHOWN']), reference);
    await refs(['CAP_CHOWN']);
    await refs(['CAP_CHOWN', 'CAP_KILL']);
    assert.deepEqual(calls, [['/proc/self/fd/9', 'CAP_CHOWN'], ['/proc/self/fd/9', 'CAP_CHOWN', 'CAP_KILL']]);
  });

  it('rejects when the helper fails or answers nonsense, and asks again next time', async () => {
    const { exec, calls } = fakeExec([() => ({ exitCode: 2, stdout: '', stderr: 'boom' }), () => ({ exitCode: 0, stdout: '{"profile":{}}' }), ok]);
    const refs = seccompReferences(() => '/helper', exec);
    await assert.rejects(refs([]), /exited 2: boom/);
    await assert.rejects(refs([]), /without a containerd version/);
    assert.deepEqual(await refs([]), reference);
    assert.equal(calls.length, 3);
  });

  it('rejects when the helper is not the pinned bytes, without running it', async () => {
    const { exec, calls } = fakeExec([]);
    const refs = seccompReferences(() => {
      throw new Error('changed since the gate pinned it');
    }, exec);
    await assert.rejects(refs([]), /changed since the gate pinned it/);
    assert.equal(calls.length, 0);
  });
});

describe('containerdMismatch', () => {
  it("accepts the node's containerd when it is the release go.mod pins, whatever its build suffix", () => {
    assert.equal(containerdMismatch('containerd github.com/containerd/containerd/v2 2.1.9+unknown \n', 'v2.1.9'), undefined);
    assert.equal(containerdMismatch('containerd github.com/containerd/containerd/v2 v2.1.9 abcdef\n', 'v2.1.9'), undefined);
  });

  it('names both releases and what to change when they differ', () => {
    const why = containerdMismatch('containerd github.com/containerd/containerd/v2 2.1.10+unknown', 'v2.1.9');
    assert.match(why!, /release 2\.1\.10.*containerd v2\.1\.9/);
    assert.match(why!, /go get github\.com\/containerd\/containerd\/v2@v2\.1\.10/);
    // 2.1.90 is not 2.1.9: releases compare whole, not by prefix.
    assert.ok(containerdMismatch('containerd github.com/containerd/containerd/v2 2.1.90', 'v2.1.9'));
  });

  it('refuses a version line it cannot read', () => {
    assert.match(containerdMismatch('sh: containerd: not found', 'v2.1.9')!, /unrecognised \("sh: containerd: not found"\)/);
    assert.match(containerdMismatch('', 'v2.1.9')!, /unrecognised/);
  });
});

describe('seccompReferenceContainerd', () => {
  it("reads the containerd release the helper's go.mod requires", async () => {
    assert.match(await seccompReferenceContainerd(), /^v2\.\d+\.\d+$/);
  });
});

describe('pinLocalhostProfiles', () => {
  it('reads every profile under the root, nested and through symlinks, and nothing when the root is absent', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'il-seccomp-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'team'), { recursive: true });
    await writeFile(join(root, 'a.json'), '{"defaultAction":"SCMP_ACT_ERRNO"}');
    await writeFile(join(root, 'team', 'b.json'), '{"defaultAction":"SCMP_ACT_KILL"}');
    await symlink(join(root, 'a.json'), join(root, 'link.json'));
    const pinned = pinLocalhostProfiles(root);
    assert.deepEqual([...pinned.keys()].sort(), [join(root, 'a.json'), join(root, 'link.json'), join(root, 'team', 'b.json')]);
    assert.equal(pinned.get(join(root, 'team', 'b.json'))!.toString(), '{"defaultAction":"SCMP_ACT_KILL"}');
    assert.equal(pinLocalhostProfiles(join(root, 'absent')).size, 0);
  });
});

describe('localhostSeccomp', () => {
  const answer = { containerd: 'v2.1.9', profile: profile() };
  const recording = () => {
    const inputs: string[] = [];
    const exec: Exec = {
      async run(argv, options) {
        inputs.push(`${argv.join(' ')} < ${options?.input?.toString() ?? ''}`);
        return { exitCode: 0, stdout: Buffer.from(JSON.stringify(answer)), stderr: '' };
      },
    };
    return { exec, inputs };
  };

  it('asks the helper about the bytes pinned for the path, once per content, never about the file as it is now', async () => {
    const { exec, inputs } = recording();
    const pinned = new Map([['/var/lib/kubelet/seccomp/a.json', Buffer.from('A')], ['/var/lib/kubelet/seccomp/b.json', Buffer.from('A')]]);
    const reference = localhostSeccomp(() => '/helper', pinned, exec);
    assert.deepEqual(await reference('/var/lib/kubelet/seccomp/a.json'), answer);
    await reference('/var/lib/kubelet/seccomp/./b.json');
    assert.deepEqual(inputs, ['/helper --localhost < A']);
  });

  it('rejects a path that was not pinned, naming what was', async () => {
    const { exec, inputs } = recording();
    const reference = localhostSeccomp(() => '/helper', new Map([['/var/lib/kubelet/seccomp/a.json', Buffer.from('A')]]), exec);
    await assert.rejects(reference('/var/lib/kubelet/seccomp/new.json'), /new\.json was not under \/var\/lib\/kubelet\/seccomp when the gate daemon started \(it pinned \/var\/lib\/kubelet\/seccomp\/a\.json\)/);
    await assert.rejects(reference('/tmp/elsewhere.json'), /was not under/);
    assert.equal(inputs.length, 0);
  });

  it('names the Localhost profile in a departure', () => {
    const loosened = profile();
    loosened.syscalls!.push({ names: ['unshare'], action: 'SCMP_ACT_ALLOW' });
    const [d] = seccompDepartures(loosened, answer, '/var/lib/kubelet/seccomp/a.json');
    assert.match(d!, /is not the Localhost profile \/var\/lib\/kubelet\/seccomp\/a\.json the request CRI holds asks for, as containerd v2\.1\.9 loads the bytes the gate pinned/);
    assert.match(d!, /rules the profile does not have: unshare SCMP_ACT_ALLOW/);
  });
});

describe('the seccomp-default helper, built from containerd\'s module', () => {
  it('gives the RuntimeDefault profile, and a Localhost profile as containerd loads it (unknown fields dropped; not JSON: an error)', async () => {
    const helper = await buildSeccompDefault();
    const run = async (args: string[], input?: string) => localExec.run([helper, ...args], { timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
    const byDefault = await run(['CAP_CHOWN']);
    assert.equal(byDefault.exitCode, 0, byDefault.stderr);
    const d = JSON.parse(byDefault.stdout.toString()) as SeccompReference;
    assert.equal(d.containerd, await seccompReferenceContainerd());
    assert.equal(d.profile.defaultAction, 'SCMP_ACT_ERRNO');
    // Without CAP_SYS_ADMIN the default profile does not allow unshare.
    assert.ok(!d.profile.syscalls!.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names?.includes('unshare') && !r.args?.length));

    const local = await run(['--localhost'], '{"defaultAction":"SCMP_ACT_ERRNO","note":"dropped","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","x":1}]}');
    assert.equal(local.exitCode, 0, local.stderr);
    assert.deepEqual(JSON.parse(local.stdout.toString()).profile, { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });

    const broken = await run(['--localhost'], 'not json');
    assert.equal(broken.exitCode, 1);
    assert.match(broken.stderr, /decoding seccomp profile failed/);
  });
});
