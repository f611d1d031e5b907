import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILTIN_RULES_PATH } from './builtin.ts';
import { containerStartedEvent, type ContainerInfo } from './context.ts';
import { AuditEngine, compileRuleSet } from './engine.ts';
import type { AuditEvent } from './fields.ts';

const clock = () => new Date('2024-05-06T07:08:09.010Z');
const builtin = { name: 'integrity-lab.rules.yaml', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') };

function engine(): AuditEngine {
  const e = new AuditEngine({ hostname: 'node-1', clock });
  e.load([builtin]);
  return e;
}

const pod = { 'container.id': '3ad7b26ded6d', 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'cart-7f9c' };

const app: ContainerInfo = {
  id: '3ad7b26ded6d0123456789abcdef',
  name: 'app',
  image: 'registry.local/shop/cart:1.4.2',
  privileged: false,
  k8sNamespace: 'shop',
  k8sPod: 'cart-7f9c',
  mounts: [
    { source: '/var/lib/kubelet/pods/9e1c/volumes/kubernetes.io~projected/kube-api-access-x', dest: '/var/run/secrets/kubernetes.io/serviceaccount', mode: 'ro', readWrite: false },
    { source: '/var/lib/kubelet/pods/9e1c/etc-hosts', dest: '/etc/hosts' },
    { source: '/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f2a/resolv.conf', dest: '/etc/resolv.conf' },
  ],
};

function rules(e: AuditEngine, event: AuditEvent): string[] {
  return e.evaluate(event).map((a) => a.rule);
}

describe('the built-in integrity-lab rules', () => {
  const e = engine();

  describe('when loaded', () => {
    it('need nothing else and use only fields the lab produces', () => {
      const set = compileRuleSet([builtin]);
      assert.deepEqual(set.rules.map((r) => r.name), [
        'Shell spawned in a container',
        'Fileless execution in a container',
        'io_uring set up in a container',
        "Mount on a container's root file system",
        'Privileged container started',
        'Sensitive host path mounted into a container',
        'Read of a sensitive file',
      ]);
      assert.deepEqual(set.unknownFields, []);
      for (const r of set.rules) {
        assert.ok(r.tags.includes('integrity-lab'), r.name);
        assert.ok(r.tags.some((t) => t.startsWith('mitre_')), r.name);
        for (const f of ['container.id', 'container.name', 'k8s.ns.name', 'k8s.pod.name', 'proc.cmdline']) {
          assert.ok(r.output.fields.some((o) => o.token === f), `${r.name} outputs ${f}`);
        }
      }
    });

    it('load after the upstream rules without changing them', { skip: existsSync(upstream()) ? false : 'Falco corpus not present' }, () => {
      const base = compileRuleSet([{ name: 'falco_rules.yaml', content: readFileSync(upstream(), 'utf8') }]);
      const both = compileRuleSet([{ name: 'falco_rules.yaml', content: readFileSync(upstream(), 'utf8') }, builtin]);
      assert.equal(both.rules.length, base.rules.length + 7);
    });
  });

  describe('when a shell starts', () => {
    const shell = { 'evt.type': 'execve', 'proc.name': 'sh', 'proc.cmdline': 'sh -c id', 'proc.pname': 'runc', ...pod };

    it('alerts inside a container, with the pod in the output', () => {
      const [alert] = e.evaluate(shell);
      assert.equal(alert?.rule, 'Shell spawned in a container');
      assert.equal(alert?.priority, 'Warning');
      assert.match(alert!.output, /shell=sh cmdline=sh -c id parent=runc .*container_id=3ad7b26ded6d container_name=app .*k8s_ns=shop k8s_pod=cart-7f9c$/);
    });

    it('stays quiet on the host, for other programs, and for other syscalls', () => {
      assert.deepEqual(rules(e, { ...shell, 'container.id': 'host' }), []);
      assert.deepEqual(rules(e, { ...shell, 'container.id': undefined }), []);
      assert.deepEqual(rules(e, { ...shell, 'proc.name': 'nginx' }), []);
      assert.deepEqual(rules(e, { ...shell, 'evt.type': 'openat' }), []);
    });
  });

  describe('when a process runs from a memory file', () => {
    // fexecve: execveat(fd, "", …, AT_EMPTY_PATH); measured on the lab node: comm is the memfd's name, not the shell's.
    const fileless = { 'evt.type': 'execveat', 'proc.name': 'memfd:payload', 'proc.exepath': '/memfd:payload (deleted)', 'proc.is_exe_from_memfd': true, 'proc.cmdline': 'memfd:payload -c id', 'proc.pname': 'memfd-exec', ...pod };

    it('alerts inside a container, with the pod in the output, although the shell rule misses it by name', () => {
      const [alert, ...more] = e.evaluate(fileless);
      assert.equal(alert?.rule, 'Fileless execution in a container');
      assert.equal(alert?.priority, 'Critical');
      assert.match(alert!.output, /exe=\/memfd:payload \(deleted\) cmdline=memfd:payload -c id .*container_id=3ad7b26ded6d .*k8s_ns=shop k8s_pod=cart-7f9c$/);
      assert.deepEqual(more, []);
    });

    it('stays quiet on the host, for runc cloning itself, and for executables on a file system', () => {
      assert.deepEqual(rules(e, { ...fileless, 'container.id': 'host' }), []);
      assert.deepEqual(rules(e, { ...fileless, 'proc.exepath': '/memfd:runc_cloned:/proc/self/exe (deleted)' }), []);
      assert.deepEqual(rules(e, { ...fileless, 'proc.exepath': '/opt/agent/run', 'proc.is_exe_from_memfd': false }), []);
      assert.deepEqual(rules(e, { ...fileless, 'evt.type': 'memfd_create' }), []);
    });
  });

  describe('when a process sets up an io_uring ring', () => {
    const ring = { 'evt.type': 'io_uring_setup', 'proc.name': 'uring-read', 'proc.exepath': '/srv/share/uring-read', 'proc.cmdline': 'uring-read 4242 /etc/shadow', 'proc.pname': 'uring-read', ...pod };
    it('alerts inside a container, with the pod in the output', () => {
      const [alert, ...more] = e.evaluate(ring);
      assert.equal(alert?.rule, 'io_uring set up in a container');
      assert.equal(alert?.priority, 'Warning');
      assert.match(alert!.output, /comm=uring-read .*container_id=3ad7b26ded6d .*k8s_ns=shop k8s_pod=cart-7f9c$/);
      assert.deepEqual(more, []);
    });
    it('stays quiet on the host and for other calls', () => {
      assert.deepEqual(rules(e, { ...ring, 'container.id': 'host' }), []);
      assert.deepEqual(rules(e, { ...ring, 'evt.type': 'io_uring_enter' }), []);
    });
  });

  describe('when something is mounted onto a container', () => {
    const mount = { 'evt.type': 'mount', 'evt.arg.dir': '/opt/agent', 'evt.arg.dev': 'tmpfs', 'evt.rawarg.flags': 0, 'proc.name': 'mount', 'proc.cmdline': 'mount -t tmpfs tmpfs /opt/agent', ...pod };
    it('alerts, with the target and the pod in the output', () => {
      const [alert, ...more] = e.evaluate(mount);
      assert.equal(alert?.rule, "Mount on a container's root file system");
      assert.equal(alert?.priority, 'Critical');
      assert.match(alert!.output, /target=\/opt\/agent .*process=mount .*container_id=3ad7b26ded6d .*k8s_pod=cart-7f9c$/);
      assert.deepEqual(more, []);
      assert.deepEqual(rules(e, { ...mount, 'evt.type': 'move_mount' }), ["Mount on a container's root file system"]);
      // mount_setattr: a mount's flags changed (noexec taken off /tmp), no mount made.
      assert.deepEqual(rules(e, { ...mount, 'evt.type': 'mount_setattr', 'evt.arg.dir': '/tmp', 'evt.arg.dev': undefined }), ["Mount on a container's root file system"]);
    });
    it('stays quiet for the node, for runc setting the container up, and for other calls', () => {
      assert.deepEqual(rules(e, { ...mount, 'container.id': 'host' }), []);
      assert.deepEqual(rules(e, { ...mount, 'proc.name': 'runc:[2:INIT]' }), []);
      assert.deepEqual(rules(e, { ...mount, 'evt.type': 'setns' }), []);
    });
  });

  describe('when the CRI inventory reports a started container', () => {
    const time = '2024-05-06T07:08:09.5Z';

    it('alerts on a privileged container', () => {
      const [alert] = e.evaluate(containerStartedEvent({ ...app, privileged: true }, time, '/usr/bin/cart --port 8080'));
      assert.equal(alert?.rule, 'Privileged container started');
      assert.equal(alert?.priority, 'Critical');
      assert.match(alert!.output, /image=registry.local\/shop\/cart:1.4.2 container_id=3ad7b26ded6d /);
    });

    it('stays quiet for an ordinary pod with kubelet and containerd mounts', () => {
      assert.deepEqual(rules(e, containerStartedEvent(app, time)), []);
    });

    const sensitive: [string, string][] = [
      ['/', '/host'],
      ['/etc', '/host/etc'],
      ['/proc', '/host/proc'],
      ['/var/run/docker.sock', '/var/run/docker.sock'],
      ['/run/containerd/containerd.sock', '/run/containerd/containerd.sock'],
      ['/var/lib/kubelet', '/var/lib/kubelet'],
      ['/root', '/root'],
      ['/root/.ssh', '/keys'],
      ['/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/12', '/layers'],
    ];
    for (const [source, dest] of sensitive) {
      it(`alerts on a host mount of ${source}`, () => {
        const c = { ...app, mounts: [...app.mounts!, { source, dest }] };
        assert.deepEqual(rules(e, containerStartedEvent(c, time)), ['Sensitive host path mounted into a container']);
      });
    }

    it('stays quiet for host paths that merely share a prefix or sit below exact-only paths', () => {
      for (const source of ['/etcetera', '/var/lib/kubelet/pods/1/volumes/x', '/data/etc', '/rootfs']) {
        const c = { ...app, mounts: [{ source, dest: '/mnt' }] };
        assert.deepEqual(rules(e, containerStartedEvent(c, time)), [], source);
      }
    });

    it('lets a later file trust an image', () => {
      const tuned = new AuditEngine({ hostname: 'node-1', clock });
      tuned.load([builtin, { name: 'local.yaml', content: '- list: integrity_lab_privileged_images\n  items: [registry.local/shop/cart]\n  override:\n    items: append\n' }]);
      assert.deepEqual(rules(tuned, containerStartedEvent({ ...app, privileged: true }, time)), []);
    });
  });

  describe('when a sensitive file is opened', () => {
    const read = { 'evt.type': 'openat', 'evt.is_open_read': true, 'proc.name': 'cat', 'proc.cmdline': 'cat /etc/shadow', ...pod };
    const files = [
      ['/etc/shadow', '/etc'],
      ['/etc/gshadow', '/etc'],
      ['/etc/sudoers', '/etc'],
      ['/etc/sudoers.d/90-cloud', '/etc/sudoers.d'],
      ['/var/run/secrets/kubernetes.io/serviceaccount/token', '/var/run/secrets/kubernetes.io/serviceaccount'],
      ['/run/secrets/kubernetes.io/serviceaccount/token', '/run/secrets/kubernetes.io/serviceaccount'],
      ['/var/run/secrets/kubernetes.io/serviceaccount/..2024_05_06_07_00_00.1/token', '/var/run/secrets/kubernetes.io/serviceaccount/..2024_05_06_07_00_00.1'],
    ];
    for (const [name, dir] of files) {
      it(`alerts on a read of ${name}`, () => {
        assert.deepEqual(rules(e, { ...read, 'fd.name': name, 'fd.directory': dir }), ['Read of a sensitive file']);
      });
    }

    it('stays quiet for other files, writes, and the system authenticators', () => {
      assert.deepEqual(rules(e, { ...read, 'fd.name': '/etc/passwd', 'fd.directory': '/etc' }), []);
      assert.deepEqual(rules(e, { ...read, 'fd.name': '/etc/shadow', 'fd.directory': '/etc', 'evt.is_open_read': false }), []);
      assert.deepEqual(rules(e, { ...read, 'fd.name': '/etc/shadow', 'fd.directory': '/etc', 'proc.name': 'sshd' }), []);
      assert.deepEqual(rules(e, { ...read, 'fd.name': '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', 'fd.directory': '/var/run/secrets/kubernetes.io/serviceaccount' }), []);
    });

    it('does not let an authenticator read the service-account token unnoticed', () => {
      const token = { ...read, 'proc.name': 'sshd', 'fd.name': '/run/secrets/kubernetes.io/serviceaccount/token', 'fd.directory': '/run/secrets/kubernetes.io/serviceaccount' };
      assert.deepEqual(rules(e, token), ['Read of a sensitive file']);
    });
  });
});

function upstream(): string {
  return process.env.INTEGRITY_LAB_FALCO_CORPUS
    ? `${process.env.INTEGRITY_LAB_FALCO_CORPUS}/falco_rules.yaml`
    : fileURLToPath(new URL('../../../shared/corpus/falco/falco_rules.yaml', import.meta.url));
}
