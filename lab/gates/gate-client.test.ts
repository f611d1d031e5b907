/**
 * The gates' static program (native/gate-client.c) under each of its names,
 * built with a test socket, a recording runc and a recording layer-bind,
 * and run against a stand-in daemon that parses requests with the real
 * daemon's parser.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { scratchDir } from '../testing/scratch-dir.ts';
import { parseRequest } from './daemon.ts';

const run = promisify(execFile);
const dir = scratchDir('gate-client');
const socketPath = join(dir, 'gate.sock');
const runcLog = join(dir, 'runc.log');
const releaseLog = join(dir, 'release.log');
/** The environment the recording runc was run with. */
const runcEnv = join(dir, 'runc.env');
const program = join(dir, 'gate-client');

/** What the stand-in daemon was asked, and how it answers. */
const asked: { args: string[]; stdin: string }[] = [];
let answer = { code: 0, text: 'admitted' };
let daemon: Server | undefined;

before(async () => {
  const runc = join(dir, 'runc');
  writeFileSync(runc, `#!/bin/sh\necho "$0 $*" >> ${runcLog}\nenv > ${runcEnv}\nexit 7\n`, { mode: 0o755 });
  const layerBind = join(dir, 'layer-bind');
  writeFileSync(layerBind, `#!/bin/sh\necho "$*" >> ${releaseLog}\n`, { mode: 0o755 });
  const defines = [`-DSOCKET_PATH="${socketPath}"`, `-DRUNC="${runc}"`, `-DLAYER_BIND="${layerBind}"`];
  await run('gcc', ['-O2', '-Wall', '-Werror', ...defines, '-o', program, join(import.meta.dirname, 'native/gate-client.c')]);
  mkdirSync(join(dir, 'bin'));
  for (const name of ['integrity-runc', 'integrity-pull-gate']) symlinkSync(program, join(dir, 'bin', name));
});

after(() => daemon?.close());

async function startDaemon(): Promise<void> {
  if (daemon) return;
  daemon = createServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      const { args, stdin } = parseRequest(Buffer.concat(chunks));
      asked.push({ args, stdin: stdin.toString() });
      socket.end(Buffer.concat([Buffer.from([answer.code]), Buffer.from(answer.text)]));
    });
  });
  await new Promise<void>((resolve) => daemon!.listen(socketPath, resolve));
}

/** Runs the program under `name` with `args` (and `env` added to this process's environment); its exit code and output. */
async function call(name: string, args: string[], input = '', env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(join(dir, 'bin', name), args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
    // The wrapper never reads its stdin, and may be gone before this is written (EPIPE): that is no failure.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
  });
}

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};
function reset(next = { code: 0, text: 'admitted' }) {
  asked.length = 0;
  answer = next;
  writeFileSync(runcLog, '');
  writeFileSync(releaseLog, '');
}

/** A runc bundle whose OCI spec carries `annotations`. */
function bundle(annotations: Record<string, string>): string {
  const b = scratchDir('bundle');
  writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.2.0', annotations }));
  return b;
}

describe('gate-client', () => {
  describe('when the gate daemon is unreachable', () => {
    it('refuses under every name, and runc is never run', async () => {
      reset();
      const b = bundle({ 'io.kubernetes.cri.container-type': 'container' });
      const wrapper = await call('integrity-runc', ['--root', '/r', 'create', '--bundle', b, 'c1']);
      assert.equal(wrapper.code, 1);
      assert.match(wrapper.stderr, /gate daemon is unreachable \(connect .*gate\.sock/);
      assert.equal(read(runcLog), '');
      const pull = await call('integrity-pull-gate', ['-name', 'x'], '{}');
      assert.equal(pull.code, 1);
      assert.match(pull.stdout, /gate daemon is unreachable/);
    });
  });

  describe('as the runtime wrapper (integrity-runc)', () => {
    before(startDaemon);

    it("asks the daemon on create of a CRI container and hands over to runc with runc's arguments", async () => {
      reset();
      const b = bundle({ 'io.kubernetes.cri.container-type': 'container' });
      const r = await call('integrity-runc', ['--root', '/r', 'create', '--bundle', b, 'c1']);
      assert.deepEqual(asked.map((a) => a.args), [['create', '--root', '/r', 'create', '--bundle', b, 'c1']]);
      assert.equal(read(runcLog).trim(), `${join(dir, 'runc')} --root /r create --bundle ${b} c1`);
      assert.equal(r.code, 7, "runc's own exit code");
    });

    it("reports the loader variables of its environment with a create, and runs runc without them", async () => {
      reset();
      const b = bundle({ 'io.kubernetes.cri.container-type': 'container' });
      const loader = { LD_PRELOAD: '/var/lib/attacker/lib.so', LD_LIBRARY_PATH: '/var/lib/attacker', GLIBC_TUNABLES: 'glibc.malloc.check=3' };
      await call('integrity-runc', ['create', '--bundle', b, 'c1'], '', { ...loader, LDX_KEEP: 'not a loader variable' });
      assert.equal(asked.length, 1);
      assert.deepEqual(asked[0]!.stdin.split('\0').filter(Boolean).sort(), Object.entries(loader).map(([k, v]) => `${k}=${v}`).sort());
      const seen = read(runcEnv);
      for (const name of Object.keys(loader)) assert.doesNotMatch(seen, new RegExp(`^${name}=`, 'm'), `${name} reached runc`);
      assert.match(seen, /^LDX_KEEP=not a loader variable$/m, 'other variables are kept');
      assert.match(seen, /^PATH=/m);
    });

    it('sends nothing after the arguments when there is no loader variable', async () => {
      reset();
      const b = bundle({ 'io.kubernetes.cri.container-type': 'container' });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LD_'))) as Record<string, string>;
      await new Promise((resolve) => execFile(join(dir, 'bin', 'integrity-runc'), ['create', '--bundle', b, 'c1'], { env }, resolve));
      assert.equal(asked[0]?.stdin, '');
    });

    it('removes them for every other runc command too', async () => {
      reset();
      await call('integrity-runc', ['--root', '/r', 'state', 'c1'], '', { LD_PRELOAD: '/x.so' });
      assert.equal(asked.length, 0);
      assert.doesNotMatch(read(runcEnv), /^LD_PRELOAD=/m);
    });

    it('asks the daemon on create of a pod sandbox', async () => {
      reset();
      const b = bundle({ 'io.kubernetes.cri.container-type': 'sandbox' });
      await call('integrity-runc', ['create', '-b', b, 's1']);
      assert.equal(asked.length, 1);
    });

    it('refuses a create the daemon refuses: runc is never run', async () => {
      reset({ code: 1, text: 'integrity start gate refused: MISSING_SIGNATURE' });
      const b = bundle({ 'io.kubernetes.cri.container-type': 'container' });
      const r = await call('integrity-runc', ['create', '--bundle', b, 'c1']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /MISSING_SIGNATURE/);
      assert.equal(read(runcLog), '');
    });

    it('does not ask about a bundle that is not a CRI container or sandbox', async () => {
      reset({ code: 1, text: 'would refuse' });
      const b = bundle({ 'org.example': 'x' });
      const r = await call('integrity-runc', ['create', '--bundle', b, 'c2']);
      assert.equal(asked.length, 0);
      assert.equal(r.code, 7);
    });

    it('asks the daemon on start (the audit start hold) and refuses when it does', async () => {
      reset({ code: 1, text: 'start hold missing' });
      const r = await call('integrity-runc', ['--root', '/r', 'start', 'c1']);
      assert.deepEqual(asked.map((a) => a.args), [['start', '--root', '/r', 'start', 'c1']]);
      assert.equal(r.code, 1);
      assert.equal(read(runcLog), '');
    });

    it("on delete, runs runc, then releases the container's layers, and keeps runc's exit code", async () => {
      reset();
      const r = await call('integrity-runc', ['--root', '/r', 'delete', '--force', 'c1']);
      assert.equal(asked.length, 0);
      assert.equal(read(runcLog).trim(), `${join(dir, 'runc')} --root /r delete --force c1`);
      assert.equal(read(releaseLog).trim(), 'release c1');
      assert.equal(r.code, 7);
    });

    it('passes every other runc command straight through', async () => {
      reset();
      await call('integrity-runc', ['--root', '/r', 'state', 'c1']);
      assert.equal(asked.length, 0);
      assert.equal(read(runcLog).trim(), `${join(dir, 'runc')} --root /r state c1`);
    });
  });

  describe('as the pull gate (integrity-pull-gate)', () => {
    before(startDaemon);

    it("forwards containerd's arguments and stdin as a pull, and exits with the daemon's verdict and reason", async () => {
      reset({ code: 1, text: 'integrity pull gate refused: unsigned' });
      const r = await call('integrity-pull-gate', ['-name', 'reg/x:1', '-digest', 'sha256:ab'], '{"mediaType":"m"}');
      assert.deepEqual(asked, [{ args: ['pull', '-name', 'reg/x:1', '-digest', 'sha256:ab'], stdin: '{"mediaType":"m"}' }]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, 'integrity pull gate refused: unsigned');
    });

    it('admits what the daemon admits', async () => {
      reset();
      assert.equal((await call('integrity-pull-gate', ['-name', 'reg/x:1'], '')).code, 0);
    });
  });
});
