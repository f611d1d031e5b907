import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeComponent } from '../node/component.ts';
import { silent } from '../progress.ts';
import { generateLabPki } from '../signer/index.ts';
import type { LabProfile } from '../spec/schemas.ts';
import { KIND_UNSUPPORTED, renderSetupScript, writeLabDir, writeSignedSystemImages } from './lab-setup.ts';
import { buildSystemImages } from './system-images.ts';
import { scratchDir } from '../testing/scratch-dir.ts';

const profile = {
  apiVersion: 'integrity-lab.io/v1alpha1',
  kind: 'LabProfile',
  metadata: { name: 'test' },
  spec: { containerd: { snapshotter: 'erofs', setImmutable: false, mkfsOptions: ['-T0'] }, components: [] },
} as unknown as LabProfile;

describe('the kind lab directory', () => {
  it('installs files, containerd config and units, and runs boot commands, in that order', async () => {
    const state = scratchDir('kind-lab');
    const source = join(state, 'bin');
    writeFileSync(source, 'binary');
    const component: NodeComponent = {
      name: 'fake',
      async prepare() {
        return {
          files: [{ content: '{"a":1}', target: '/etc/x/config.json', mode: 0o600 }, { source, target: '/opt/x/bin', mode: 0o755 }],
          containerdPlugins: ["  [plugins.'io.example']\n    on = true"],
          runcOptions: { BinaryName: '/usr/local/bin/wrapper' },
          boot: { units: [{ name: 'x.service', content: '[Service]\nExecStart=/opt/x/bin\n' }], commands: [['mkfs.erofs', 'out file', 'in']] },
        };
      },
    };
    const pki = await generateLabPki(join(state, 'pki'), { clock: () => new Date() });
    const dir = await writeLabDir({ profile, components: [component], stateDir: state, pki }, silent);
    assert.deepEqual(readFileSync(join(dir, 'files.list'), 'utf8').trim().split('\n'), ['600 /etc/x/config.json 0', '755 /opt/x/bin 1']);
    assert.equal(readFileSync(join(dir, 'files/1'), 'utf8'), 'binary');
    const toml = readFileSync(join(dir, 'containerd.toml'), 'utf8');
    assert.match(toml, /BinaryName = '\/usr\/local\/bin\/wrapper'/);
    assert.match(toml, /\[plugins\.'io\.example'\]/);
    const script = readFileSync(join(dir, 'setup'), 'utf8');
    assert.ok(statSync(join(dir, 'setup')).mode & 0o100, 'setup is executable');
    const order = ['done < files.list', 'containerd.toml /etc/containerd/config.toml', 'multi-user.target.wants/\'x.service\'', "'mkfs.erofs' 'out file' 'in'"].map((s) => script.indexOf(s));
    assert.ok(order.every((i) => i >= 0), `missing a part:\n${script}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'files, then config, then units, then boot commands');
    assert.ok(!existsSync(join(dir, 'files', 'pki')), 'no key material is copied into the lab directory');
    assert.ok(!readFileSync(join(dir, 'files/0'), 'utf8').includes('PRIVATE KEY'));
  });

  it('installs what it lists when the script runs (in a scratch root)', () => {
    const root = scratchDir('kind-lab-root');
    mkdirSync(join(root, 'lab/files'), { recursive: true });
    mkdirSync(join(root, 'lab/units'));
    mkdirSync(join(root, 'etc/containerd'), { recursive: true });
    writeFileSync(join(root, 'lab/files/0'), 'hello');
    writeFileSync(join(root, 'lab/files.list'), `640 ${root}/target/dir/file 0\n`);
    writeFileSync(join(root, 'lab/containerd.toml'), 'version = 3\n');
    const script = renderSetupScript({ units: [], commands: [['sh', '-c', `echo booted > ${root}/booted`]] })
      .replace('cd /kind/lab', `cd ${root}/lab`)
      .replace('/etc/containerd/config.toml', `${root}/etc/containerd/config.toml`)
      .replace('/etc/systemd/system/multi-user.target.wants', `${root}/wants`);
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(root, 'target/dir/file'), 'utf8'), 'hello');
    assert.equal((statSync(join(root, 'target/dir/file')).mode & 0o777).toString(8), '640');
    assert.equal(readFileSync(join(root, 'etc/containerd/config.toml'), 'utf8'), 'version = 3\n');
    assert.equal(readFileSync(join(root, 'booted'), 'utf8').trim(), 'booted');
  });

  it('installs every component of the integrity profile, audit included', () => {
    assert.deepEqual(Object.keys(KIND_UNSUPPORTED), []);
  });
});

describe('the kind system images', () => {
  it('carry the mount points of kubeadm\'s hostPath volumes, since a protected root has no upperdir', async () => {
    const bin = Buffer.from('#!/bin/sh\n');
    const dir = scratchDir('k8s-bin');
    for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) writeFileSync(join(dir, b), bin);
    const images = await buildSystemImages({ dir, version: 'v0', hash: 'x' } as never, Buffer.from('busybox'));
    const apiserver = images.find((i) => i.name.includes('/kube-apiserver:'))!;
    assert.match(apiserver.name, /^127\.0\.0\.1:5000\/system\//);
    const tar = apiserver.image.layerTars[0]!.toString('latin1');
    for (const path of ['etc/kubernetes/pki/etcd', 'etc/ssl/certs', 'var/lib/etcd', 'etc/kubernetes/controller-manager.conf']) assert.ok(tar.includes(path), `${path} missing from the layer`);
  });
  it('are not signed once the start was interrupted (Ctrl-C): the reason is thrown and nothing is written', async () => {
    const dir = scratchDir('k8s-bin-interrupted');
    for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) writeFileSync(join(dir, b), Buffer.from('#!/bin/sh\n'));
    const images = await buildSystemImages({ dir, version: 'v0', hash: 'x' } as never, Buffer.from('busybox'));
    const labDir = scratchDir('kind-lab-interrupted');
    const reason = new Error('SIGINT: stopping');
    const exec = { run: () => assert.fail('no tool runs after the interrupt') };
    await assert.rejects(writeSignedSystemImages(labDir, images, {} as never, { exec, workDir: labDir }, silent, AbortSignal.abort(reason)), (err) => err === reason);
    assert.deepEqual(readdirSync(join(labDir, 'images')), []);
  });
});
