import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { containerLogTail, containersLabelled, createVolume, demuxLog, inspectContainer, removeContainer, removeVolume, stopContainer } from './engine.ts';
import { localExec } from './exec.ts';

const cli = async (...args: string[]) => (await localExec.run(['docker', ...args])).stdout.toString().trim();

describe('the Engine API housekeeping, against the real engine and its CLI', () => {
  it('inspects, lists by label, stops and removes a container and a volume, and finds nothing left', async (t) => {
    const { ensureNodeImage } = await import('./node/index.ts');
    const image = await ensureNodeImage(() => {});
    const tag = `engine-test-${randomBytes(4).toString('hex')}`;
    const label = `io.integrity-lab.test=${tag}`;
    const name = `integrity-lab-${tag}`;
    const volume = `${name}-vol`;
    t.after(async () => {
      await localExec.run(['docker', 'rm', '-f', '-v', name]);
      await localExec.run(['docker', 'volume', 'rm', '-f', volume]);
    });

    await createVolume(volume, { 'io.integrity-lab.test': tag });
    assert.equal(await cli('volume', 'inspect', '--format', '{{index .Labels "io.integrity-lab.test"}}', volume), tag);
    const started = await localExec.run(['docker', 'run', '-d', '--name', name, '--label', label, '--hostname', 'engine-test', '--network', 'none', '-v', `${volume}:/v`, '--entrypoint', '/bin/sleep', image.tag, '300']);
    assert.equal(started.exitCode, 0, started.stderr);

    const state = await inspectContainer(name);
    assert.deepEqual(state, {
      id: started.stdout.toString().trim(),
      running: true,
      pid: Number(await cli('inspect', '--format', '{{.State.Pid}}', name)),
      hostname: 'engine-test',
      image: image.tag,
    });
    assert.deepEqual(
      (await containersLabelled(label)).map((c) => ({ id: c.id, name: c.name, state: c.state, mine: c.labels['io.integrity-lab.test'] })),
      [{ id: state!.id, name, state: 'running', mine: tag }],
    );
    // The volume is in use: the engine refuses, and says so.
    assert.match((await removeVolume(volume)) ?? '', new RegExp(`removing volume ${volume}: .*in use`));

    // sleep ignores SIGTERM as pid 1: this is the SIGKILL after 1 s.
    await stopContainer(name, 1);
    assert.equal((await inspectContainer(name))?.running, false);
    await stopContainer(name, 1); // already stopped: fine
    assert.equal(await removeContainer(name), undefined);
    assert.equal(await removeVolume(volume), undefined);
    assert.equal(await cli('ps', '-aq', '--filter', `label=${label}`), '');
    assert.equal((await localExec.run(['docker', 'volume', 'inspect', volume])).exitCode, 1);
  });

  describe('when the container or volume is already gone', () => {
    it('is not an error, as with `docker rm -f` and `docker volume rm -f`', async () => {
      const missing = `integrity-lab-no-such-${randomBytes(4).toString('hex')}`;
      assert.equal(await inspectContainer(missing), undefined);
      await stopContainer(missing, 1);
      assert.equal(await removeContainer(missing), undefined);
      assert.equal(await removeVolume(missing), undefined);
      assert.deepEqual(await containersLabelled(`io.integrity-lab.test=${missing}`), []);
    });
  });

  describe('when the engine cannot be reached', () => {
    it('says so, naming what it was asked to do (ENGINE_UNREACHABLE)', async () => {
      const script = `import('./lab/engine.ts').then((e) => e.inspectContainer('some-lab')).then(() => console.log('answered'), (err) => console.log(err.code, err.message))`;
      const r = await localExec.run([process.execPath, '--import', 'tsx', '-e', script], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, cwd: new URL('..', import.meta.url).pathname });
      assert.match(r.stdout.toString(), /^ENGINE_UNREACHABLE cannot reach the Docker engine to inspect container some-lab: .*nonexistent/m);
    });
  });
});

describe('container logs', () => {
  const frame = (stream: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  it("takes the engine's frame headers off, keeping stdout and stderr in order", () => {
    assert.equal(demuxLog(Buffer.concat([frame(1, 'containerd: starting\n'), frame(2, 'containerd: failed to load plugin\n'), frame(1, 'done\n')])), 'containerd: starting\ncontainerd: failed to load plugin\ndone\n');
  });
  it('gives text that is not framed as it is (a TTY container), and a truncated frame whole', () => {
    assert.equal(demuxLog(Buffer.from('plain text from a TTY\n')), 'plain text from a TTY\n');
    const cut = frame(1, 'abcdef').subarray(0, 10);
    assert.equal(demuxLog(cut), cut.toString('utf8'));
  });
  it("reads a real container's last lines, and nothing of one that is gone", async (t) => {
    const { ensureNodeImage } = await import('./node/index.ts');
    const image = await ensureNodeImage(() => {});
    const name = `integrity-lab-logs-test-${randomBytes(4).toString('hex')}`;
    t.after(async () => void (await localExec.run(['docker', 'rm', '-f', name])));
    const ran = await localExec.run(['docker', 'run', '--name', name, '--network', 'none', '--entrypoint', '/bin/sh', image.tag, '-c', 'for i in 1 2 3 4; do echo out $i; done; echo err >&2']);
    assert.equal(ran.exitCode, 0, ran.stderr.toString());
    const all = (await containerLogTail(name, 100)) ?? '';
    assert.deepEqual(all.trim().split('\n').sort(), ['err', 'out 1', 'out 2', 'out 3', 'out 4'], 'stdout and stderr, frames taken off');
    assert.equal(((await containerLogTail(name, 2)) ?? '').trim().split('\n').length, 2);
    assert.equal(await containerLogTail(`${name}-gone`, 3), undefined);
  });
});
