import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exec } from '../exec.ts';
import { containerdMismatch, seccompDepartures, seccompReferenceContainerd, seccompReferences, type SeccompProfile, type SeccompReference } from './seccomp-reference.ts';

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
