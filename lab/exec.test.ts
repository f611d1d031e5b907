import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localExec, runChecked } from './exec.ts';

describe('localExec.run', () => {
  describe('when the command runs', () => {
    it('returns its exit code and output byte for byte (trailing newlines kept)', async () => {
      const r = await localExec.run(['sh', '-c', 'printf "a\\n\\n"; printf err >&2; exit 3']);
      assert.deepEqual(r, { exitCode: 3, stdout: Buffer.from('a\n\n'), stderr: 'err' });
    });
    it('writes the input to stdin and closes it; without input, stdin is closed at once', async () => {
      assert.deepEqual((await localExec.run(['cat'], { input: Buffer.from([0, 1, 255]) })).stdout, Buffer.from([0, 1, 255]));
      assert.equal((await localExec.run(['cat'], { timeoutMs: 5000 })).stdout.length, 0);
    });
    it('adds env to the environment and runs in cwd', async () => {
      const r = await localExec.run(['sh', '-c', 'printf "%s %s %s" "$FOO" "$(pwd)" "${PATH:+path}"'], { env: { FOO: 'bar' }, cwd: '/' });
      assert.equal(r.stdout.toString(), 'bar / path');
    });
    it('reports a command killed by a signal with exit code 128', async () => {
      assert.equal((await localExec.run(['sh', '-c', 'kill -9 $$'])).exitCode, 128);
    });
  });
  describe('when the command cannot run', () => {
    it('fails with EXEC_NOT_FOUND for a missing program', async () => {
      await assert.rejects(localExec.run(['no-such-program-here']), { code: 'EXEC_NOT_FOUND', message: /^cannot run no-such-program-here: / });
    });
    it('fails with EXEC_TIMEOUT naming the command after the timeout', async () => {
      const started = Date.now();
      await assert.rejects(localExec.run(['sleep', '5'], { timeoutMs: 200 }), { code: 'EXEC_TIMEOUT', message: 'command timed out after 200 ms: sleep 5' });
      assert.ok(Date.now() - started < 3000);
    });
  });
});

describe('runChecked', () => {
  describe('when the command exits non-zero', () => {
    it('fails with EXEC_FAILED naming the command, its exit code and its stderr', async () => {
      await assert.rejects(runChecked(localExec, ['sh', '-c', 'echo boom >&2; exit 2']), {
        code: 'EXEC_FAILED',
        message: 'command failed with exit code 2: sh -c echo boom >&2; exit 2\nboom',
      });
    });
  });
  describe('when it exits 0', () => {
    it('returns the result', async () => assert.equal((await runChecked(localExec, ['true'])).exitCode, 0));
  });
});

describe('containerExec (Docker Engine API) gives what `docker exec` gives', () => {
  it('exit codes, exact stdout bytes, stderr, stdin, env and cwd, a missing command, a missing container, a timeout', async (t) => {
    const { containerExec } = await import('./exec.ts');
    const { ensureNodeImage } = await import('./node/index.ts');
    const image = await ensureNodeImage(() => {});
    const started = await localExec.run(['docker', 'run', '-d', '--rm', '--network', 'none', '--entrypoint', '/bin/sleep', image.tag, '300']);
    assert.equal(started.exitCode, 0, started.stderr);
    const id = started.stdout.toString().trim();
    t.after(() => localExec.run(['docker', 'rm', '-f', id]));
    const api = containerExec(id);
    const cli = { run: (argv: readonly string[], o?: { input?: string }) => localExec.run(['docker', 'exec', ...(o?.input !== undefined ? ['-i'] : []), id, ...argv], o) };

    for (const [argv, input] of [
      [['sh', '-c', 'printf "a\\000\\377b"; echo oops >&2; exit 3'], undefined],
      [['cat'], 'from stdin\n'],
      [['cat'], undefined],
      [['sh', '-c', 'exit 0'], undefined],
    ] as const) {
      const [a, c] = [await api.run(argv, input === undefined ? {} : { input }), await cli.run(argv, input === undefined ? {} : { input })];
      assert.deepEqual({ ...a, stdout: [...a.stdout] }, { ...c, stdout: [...c.stdout] }, argv.join(' '));
    }
    const missing = await api.run(['no-such-binary']);
    assert.ok(missing.exitCode === 126 || missing.exitCode === 127, String(missing.exitCode));
    assert.match(missing.stderr, /no-such-binary/);
    assert.equal(missing.stdout.length, 0);

    const envCwd = await api.run(['sh', '-c', 'echo "$GREETING $(pwd)"'], { env: { GREETING: 'hello' }, cwd: '/tmp' });
    assert.equal(envCwd.stdout.toString(), 'hello /tmp\n');

    const gone = await containerExec('integrity-lab-no-such-container').run(['true']);
    assert.equal(gone.exitCode, 1);
    assert.match(gone.stderr, /No such container/i);

    await assert.rejects(api.run(['sleep', '5'], { timeoutMs: 300 }), (err: Error & { code?: string }) => err.code === 'EXEC_TIMEOUT');
  });
});
