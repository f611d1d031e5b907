import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { containersLabelled, createVolume, inspectContainer, removeContainer, removeVolume, stopContainer } from './engine.ts';
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
