import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { commandArgv, runDeclaredSteps, shellArgv, type DeclaredAttack, type StepOutput, type StepShell, type StepVariables } from './declarative.ts';
import type { StepPlace } from '../spec/schemas.ts';

const VARS: StepVariables = { TARGET_PATH: '/app/message', PAYLOAD: `it's "owned"; $(reboot)`, POD: 'app', NAMESPACE: 'apps', CONTAINER_ID: 'c0ffee', CONTAINER_PID: '42' };

/** A script as shellArgv wraps it, or an argv joined by spaces: what the fake shell answers by. */
function label(argv: readonly string[]): string {
  if (argv[0] === 'sh' && argv[1] === '-c' && argv[3] === 'sh') return argv[2]!.slice(argv[2]!.indexOf('\n') + 1);
  return argv.join(' ');
}

/** A shell that answers from a script of results and records what it ran, and where. */
function fakeShell(answers: Record<string, StepOutput | Error>): StepShell & { ran: { place: StepPlace; script: string }[] } {
  const ran: { place: StepPlace; script: string }[] = [];
  return {
    ran,
    async run(place, argv) {
      const script = label(argv);
      ran.push({ place, script });
      const a = answers[script];
      if (a instanceof Error) throw a;
      return a ?? { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
    },
  };
}
const out = (exitCode: number, stdout = '', stderr = ''): StepOutput => ({ exitCode, stdout: Buffer.from(stdout), stderr });

const write: DeclaredAttack = {
  name: 'write',
  steps: [{ name: 'write', in: 'container', run: ['write'] }],
  check: { in: 'node', script: 'read', expect: { exitCode: 0, stdout: '$PAYLOAD' } },
  cleanup: [{ name: 'undo', in: 'container-namespaces', script: 'undo' }],
};

describe('shellArgv', () => {
  it('passes the variables as data: a payload with quotes and $(…) reaches the script unchanged', () => {
    const argv = shellArgv('printf %s "$PAYLOAD|$TARGET_PATH|$CONTAINER_PID"', VARS);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.stdout, `${VARS.PAYLOAD}|/app/message|42`);
  });
  it('exports them to the commands the script runs', () => {
    const argv = shellArgv('sh -c \'printf %s "$POD/$NAMESPACE"\'', VARS);
    assert.equal(spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).stdout, 'app/apps');
  });
});

describe('commandArgv', () => {
  it('executes a run as it is, each variable substituted within its element: a payload with spaces and quotes stays one argument', () => {
    assert.deepEqual(commandArgv({ run: ['printf', '%s|%s', '$PAYLOAD', '${TARGET_PATH}.bak'] }, VARS), ['printf', '%s|%s', VARS.PAYLOAD, '/app/message.bak']);
  });
  it('runs a script under sh -c, with the variables as data', () => {
    assert.deepEqual(commandArgv({ script: 'cat "$TARGET_PATH"' }, VARS), shellArgv('cat "$TARGET_PATH"', VARS));
  });
  it('refuses a command with neither', () => {
    assert.throws(() => commandArgv({}, VARS), /needs run \(an argv\) or script/);
  });
});

describe('runDeclaredSteps', () => {
  describe('the harness commands it reports', () => {
    it('are the check, the proofs and the cleanup, with what each executed and when; never a step', async () => {
      const attack: DeclaredAttack = {
        ...write,
        blockedBy: [{ component: 'start-gate', step: 'write', stderr: 'Read-only', proof: { in: 'container', run: ['proof', '$POD'], expect: { exitCode: 0 } } }],
      };
      const before = Date.now();
      const r = await runDeclaredSteps(fakeShell({ write: out(1, '', 'Read-only'), read: out(0, 'genuine') }), attack, VARS);
      const commands = r.harnessCommands ?? [];
      assert.deepEqual(commands.map((c) => [c.name, c.in, label(c.argv)]), [['check', 'node', 'read'], ['proof of start-gate', 'container', 'proof app'], ['undo', 'container-namespaces', 'undo']]);
      for (const c of commands) {
        assert.ok(Date.parse(c.from) >= before - 1 && Date.parse(c.to) >= Date.parse(c.from) && Date.parse(c.to) <= Date.now(), `${c.name}: ${c.from}..${c.to}`);
      }
    });
  });
  describe('when the steps run and the check shows the payload', () => {
    it('reports an effect, and runs steps, check and cleanup where declared', async () => {
      const shell = fakeShell({ read: out(0, VARS.PAYLOAD) });
      const r = await runDeclaredSteps(shell, write, VARS);
      assert.equal(r.effect, true);
      assert.deepEqual(shell.ran, [{ place: 'container', script: 'write' }, { place: 'node', script: 'read' }, { place: 'container-namespaces', script: 'undo' }]);
    });
  });
  describe('when the write fails (a read-only rootfs)', () => {
    it('still runs the check, which shows no effect, and the cleanup', async () => {
      const shell = fakeShell({ write: out(1, '', 'Read-only file system'), read: out(0, 'genuine') });
      const r = await runDeclaredSteps(shell, write, VARS);
      assert.equal(r.effect, false);
      assert.match(r.reason, /step "write" failed \(exit 1: Read-only file system\); no effect: check: output "genuine", expected/);
      assert.equal(shell.ran.at(-1)?.script, 'undo');
    });
  });
  describe('when a step fails', () => {
    it('does not run the steps after it, and their expectations count as unmet', async () => {
      const attack: DeclaredAttack = { name: 'two', steps: [{ name: 'first', in: 'node', script: 'first' }, { name: 'second', in: 'node', script: 'second', expect: { exitCode: 0 } }] };
      const shell = fakeShell({ first: out(2) });
      const r = await runDeclaredSteps(shell, attack, VARS);
      assert.equal(r.effect, false);
      assert.deepEqual(shell.ran.map((x) => x.script), ['first']);
      assert.match(r.reason, /step "second" did not run/);
    });
  });
  describe('when the check cannot run at all', () => {
    it('runs the cleanup and then fails with the error', async () => {
      const shell = fakeShell({ read: new Error('node gone') });
      await assert.rejects(runDeclaredSteps(shell, write, VARS), /node gone/);
      assert.equal(shell.ran.at(-1)?.script, 'undo');
    });
  });
  describe('when a cleanup command fails', () => {
    it('records it and runs the next one', async () => {
      const attack: DeclaredAttack = { ...write, cleanup: [{ name: 'a', in: 'node', script: 'a' }, { name: 'b', in: 'node', script: 'b' }] };
      const shell = fakeShell({ read: out(0, VARS.PAYLOAD), a: new Error('umount: busy') });
      const r = await runDeclaredSteps(shell, attack, VARS);
      assert.deepEqual((r.evidence['cleanup'] as { name: string; error?: string }[]).map((c) => [c.name, c.error]), [['a', 'umount: busy'], ['b', undefined]]);
    });
  });
  describe('when a step expects output and asks for a digest as evidence', () => {
    it('judges on the output but records only its size and hash', async () => {
      const attack: DeclaredAttack = { name: 'shadow', steps: [{ name: 'read', in: 'container', run: ['cat'], expect: { stdoutNotEmpty: true }, evidence: 'digest' }] };
      const r = await runDeclaredSteps(fakeShell({ cat: out(0, 'root:$6$secret') }), attack, VARS);
      assert.equal(r.effect, true);
      const [step] = r.evidence['steps'] as Record<string, unknown>[];
      assert.equal(step?.['stdout'], undefined);
      assert.equal(step?.['stdoutBytes'], 14);
      assert.match(String(step?.['stdoutSha256']), /^[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(r.evidence).includes('secret'));
    });
    it('reports no effect when the read printed nothing', async () => {
      const attack: DeclaredAttack = { name: 'shadow', steps: [{ name: 'read', in: 'container', run: ['cat'], expect: { exitCode: 0, stdoutNotEmpty: true } }] };
      const r = await runDeclaredSteps(fakeShell({ cat: out(1, '', 'Permission denied') }), attack, VARS);
      assert.equal(r.effect, false);
      assert.match(r.reason, /exit code 1, expected 0; step "read": no output, expected some/);
    });
  });
});

describe('runDeclaredSteps with blockedBy', () => {
  const blocked: DeclaredAttack = {
    ...write,
    blockedBy: [{ component: 'start-gate', step: 'write', stderr: 'Read-only file system', proof: { in: 'container-namespaces', script: 'proof', expect: { exitCode: 0 } } }],
  };
  describe('when the step failed with the named error and the proof holds', () => {
    it('claims the block for that component, with the error and the proof as evidence', async () => {
      const shell = fakeShell({ write: out(1, '', 'sh: can\'t create /app/message: Read-only file system'), read: out(0, 'genuine'), proof: out(0, '/ / ro - overlay overlay ro,lowerdir=/a:/b') });
      const r = await runDeclaredSteps(shell, blocked, VARS);
      assert.equal(r.effect, false);
      assert.equal(r.blockedBy?.[0]?.component, 'start-gate');
      assert.match(r.blockedBy![0]!.evidence, /Read-only file system.*lowerdir=\/a:\/b/);
    });
  });
  describe('when the step failed for another reason', () => {
    it('claims nothing: a failed step is not a block', async () => {
      const shell = fakeShell({ write: out(1, '', 'sh: /app: No such file or directory'), read: out(1) });
      const r = await runDeclaredSteps(shell, blocked, VARS);
      assert.equal(r.blockedBy, undefined);
    });
  });
  describe('when the proof does not hold (the rootfs was read-only for another reason)', () => {
    it('claims nothing', async () => {
      const shell = fakeShell({ write: out(1, '', 'Read-only file system'), read: out(0, 'genuine'), proof: out(1) });
      const r = await runDeclaredSteps(shell, blocked, VARS);
      assert.equal(r.blockedBy, undefined);
    });
  });
});
