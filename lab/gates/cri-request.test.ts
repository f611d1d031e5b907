import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requestedProcessOf } from '../cri/identity.ts';
import { CRI_ROOT, CRI_STATE, capabilityAllowed, departuresFromRequest, expectedArgs, expectedEnv, mountOptionDepartures, processDepartures, requestedUserString, resolveUser, resourceDepartures, sandboxEvidence, sandboxNamespaceDepartures, userDepartures, type RecordedProcessAndMounts } from './cri-request.ts';

describe('expectedArgs (as containerd CRI builds process.args)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default-arg'] };
  it("runs the image's entrypoint and cmd when the request names neither", () => {
    assert.deepEqual(expectedArgs({ command: [], args: [] }, image), ['/entry', 'default-arg']);
  });
  it("keeps the entrypoint but replaces the cmd with the request's args", () => {
    assert.deepEqual(expectedArgs({ command: [], args: ['x'] }, image), ['/entry', 'x']);
  });
  it("replaces both with the request's command, keeping only the request's args", () => {
    assert.deepEqual(expectedArgs({ command: ['/bin/sh', '-c'], args: ['id'] }, image), ['/bin/sh', '-c', 'id']);
    assert.deepEqual(expectedArgs({ command: ['/bin/true'], args: [] }, image), ['/bin/true']);
  });
  it('treats an entrypoint of one empty string as none, and a missing cmd as empty', () => {
    assert.deepEqual(expectedArgs({ command: [], args: [] }, { Entrypoint: [''], Cmd: ['/bin/app'] }), ['/bin/app']);
    assert.deepEqual(expectedArgs({ command: [], args: [] }, { Entrypoint: ['/e'], Cmd: null }), ['/e']);
  });
});

describe('departuresFromRequest', () => {
  const ids = { containerId: 'c1', sandboxId: 's1' };
  const image = { Entrypoint: ['/opt/agent/run.sh'] };
  const request = { command: [], args: [], mounts: [{ containerPath: '/data', hostPath: '/srv/link', image: false }] };
  /** As CRI writes the record for that request (a lab node's system-agent, with one volume whose host path is a symlink). */
  const recorded = () => ({
    process: { args: ['/opt/agent/run.sh'] },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
      { destination: '/etc/hosts', type: 'bind', source: `${CRI_ROOT}/sandboxes/s1/hosts`, options: ['rbind'] },
      { destination: '/dev/shm', type: 'bind', source: `${CRI_STATE}/sandboxes/s1/shm`, options: ['rbind'] },
      { destination: '/data', type: 'bind', source: '/srv/real', options: ['rbind', 'ro'] },
      { destination: '/var/cache', type: 'bind', source: `${CRI_ROOT}/containers/c1/volumes/abc`, options: ['rbind'] },
    ],
  });
  const realpath = (p: string) => (p === '/srv/link' ? '/srv/real' : p);
  it('finds none in a record that follows from the request (symlinked host path resolved, sandbox files, image volume)', () => {
    assert.deepEqual(departuresFromRequest(recorded(), request, image, ids, realpath), []);
  });
  it('names a changed command', () => {
    const r = { ...recorded(), process: { args: ['/bin/sh', '-c', 'evil'] } };
    assert.deepEqual(departuresFromRequest(r, request, image, ids, realpath), [
      'process.args ["/bin/sh","-c","evil"] in containerd\'s record, ["/opt/agent/run.sh"] from the request CRI holds and the signed image config',
    ]);
  });
  it("names a bind nobody asked for, one from another pod's sandbox, and a mount type the runtime does not make", () => {
    const r = recorded();
    r.mounts.push({ destination: '/opt/agent', type: 'bind', source: '/var/tmp/evil', options: ['rbind', 'ro'] });
    r.mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: `${CRI_ROOT}/sandboxes/other/resolv.conf`, options: ['rbind'] });
    r.mounts.push({ destination: '/opt/agent/bin', type: 'tmpfs', source: 'tmpfs' });
    const out = departuresFromRequest(r, request, image, ids, realpath);
    assert.equal(out.length, 3);
    assert.ok(out.every((d) => /which no mount of the request CRI holds asked for$/.test(d)), out.join('\n'));
  });
  it("takes the node's /dev/shm only for a sandbox on the node's IPC namespace (its spec lists no IPC one)", () => {
    const r = { ...recorded(), linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }] } };
    r.mounts[4] = { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind'] };
    assert.equal(departuresFromRequest(r, request, image, ids, realpath).length, 1, 'a private IPC namespace gets its own /dev/shm');
    r.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }];
    assert.deepEqual(departuresFromRequest(r, request, image, ids, realpath), []);
  });
  it('names a requested container path bound from another host path', () => {
    const r = recorded();
    r.mounts[5] = { destination: '/data', type: 'bind', source: '/etc', options: ['rbind', 'ro'] };
    assert.equal(departuresFromRequest(r, request, image, ids, realpath).length, 1);
  });
});

/** Default capabilities, as containerd's CRI gives them. */
const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

describe('processDepartures (what the process runs as and with, and its namespaces)', () => {
  // Taken from a lab node on 2026-12-07: containerd's record of a kube-system system-agent between
  // CreateContainer and StartContainer, and the request CRI held for it (verbose ContainerStatus `config`).
  const verboseConfig = { metadata: { name: 'system-agent' }, linux: { security_context: { namespace_options: { pid: 1 } } } };
  // The node's files, as the gate reads them: CRI's hostname file of the sandbox, and /proc/<pid>/cgroup (cgroup v1, cgroupfs).
  const SB = '15b0febedc240aba1e9ad78a05bd0ed22751261a7ebb00f9af3c15d95ae4c1ec';
  const files: Record<string, string> = {
    [`${CRI_ROOT}/sandboxes/${SB}/hostname`]: 'system-agent\n',
    '/proc/311/cgroup': `12:pids:/k8s.io/${SB}\n11:memory:/k8s.io/${SB}\n1:name=systemd:/k8s.io/${SB}\n`,
    '/proc/1/cgroup': '12:pids:/\n11:memory:/\n1:name=systemd:/init.scope\n',
    '/proc/400/cgroup': `12:pids:/k8s.io/${'f'.repeat(64)}\n`,
  };
  const readFile = (path: string) => {
    if (!(path in files)) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return files[path]!;
  };
  const sandbox = sandboxEvidence(SB, readFile);
  const image = { Entrypoint: ['/opt/agent/run.sh'] };
  const recorded = (): RecordedProcessAndMounts & { process: NonNullable<RecordedProcessAndMounts['process']>; linux: NonNullable<RecordedProcessAndMounts['linux']> } => ({
    process: {
      user: { uid: 0, gid: 0 },
      args: ['/opt/agent/run.sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=system-agent'],
      cwd: '/',
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS] },
    },
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'ipc', path: '/proc/311/ns/ipc' }, { type: 'uts', path: '/proc/311/ns/uts' }, { type: 'mount' }, { type: 'network', path: '/proc/311/ns/net' }],
    },
  });
  const process = () => requestedProcessOf(verboseConfig);
  it("finds none in the record CRI wrote for the request", () => {
    assert.deepEqual(processDepartures(recorded(), process(), image, sandbox), []);
  });
  it('names every capability set given one the request did not ask for, and any ambient one', () => {
    const r = recorded();
    for (const set of ['bounding', 'effective', 'permitted'] as const) r.process.capabilities![set]!.push('CAP_SYS_ADMIN');
    r.process.capabilities!.ambient = ['CAP_NET_RAW'];
    assert.deepEqual(processDepartures(r, process(), image, sandbox), [
      "process.capabilities.bounding holds CAP_SYS_ADMIN in containerd's record, which the request CRI holds does not give",
      "process.capabilities.effective holds CAP_SYS_ADMIN in containerd's record, which the request CRI holds does not give",
      "process.capabilities.permitted holds CAP_SYS_ADMIN in containerd's record, which the request CRI holds does not give",
      "process.capabilities.ambient holds CAP_NET_RAW in containerd's record, which the request CRI holds does not give",
    ]);
    const privileged = requestedProcessOf({ linux: { security_context: { privileged: true, namespace_options: { pid: 1 } } } });
    assert.deepEqual(processDepartures({ ...r, process: { ...r.process, capabilities: { bounding: ['CAP_SYS_ADMIN'] } } }, privileged, image, sandbox), []);
  });
  it('names any sysctl, privileged or not: CRI gives a pod\'s sysctls to its sandbox only', () => {
    const r = recorded();
    r.linux.sysctl = { 'net.ipv4.conf.all.route_localnet': '1' };
    const want = ['linux.sysctl {"net.ipv4.conf.all.route_localnet":"1"} in containerd\'s record, where CRI gives a workload container none (a pod\'s sysctls are its sandbox\'s)'];
    assert.deepEqual(processDepartures(r, process(), image, sandbox), want);
    const privileged = requestedProcessOf({ linux: { security_context: { privileged: true, namespace_options: { pid: 1 } } } });
    assert.deepEqual(processDepartures(r, privileged, image, sandbox), want);
    assert.deepEqual(processDepartures({ ...r, linux: { ...r.linux, sysctl: {} } }, process(), image, sandbox), [], 'an empty map is no sysctl');
  });
  it("allows no OOM score adjustment below the request's, and no rlimits", () => {
    const r = recorded();
    r.process.oomScoreAdj = -1000;
    r.process.rlimits = [{ type: 'RLIMIT_MEMLOCK', hard: 2 ** 53 - 1, soft: 2 ** 53 - 1 }];
    assert.deepEqual(processDepartures(r, process(), image, sandbox), [
      "process.oomScoreAdj -1000 in containerd's record, below the 0 of the request CRI holds",
      `process.rlimits [{"type":"RLIMIT_MEMLOCK","hard":${2 ** 53 - 1},"soft":${2 ** 53 - 1}}] in containerd's record, where CRI gives a container none`,
    ]);
    // A kube-system static pod on a kind node (2026-12-07): the kubelet asks -997; restrict_oom_score_adj raises it to containerd's own 0.
    const critical = requestedProcessOf({ ...verboseConfig, linux: { ...verboseConfig.linux, resources: { oom_score_adj: -997 } } });
    assert.deepEqual(processDepartures({ ...recorded(), process: { ...recorded().process, oomScoreAdj: 0 } }, critical, image, sandbox), [], 'raised by restrict_oom_score_adj');
    assert.deepEqual(processDepartures({ ...recorded(), process: { ...recorded().process, oomScoreAdj: -997 } }, critical, image, sandbox), [], 'as asked');
    const burstable = requestedProcessOf({ ...verboseConfig, linux: { ...verboseConfig.linux, resources: { oom_score_adj: 999 } } });
    assert.equal(processDepartures({ ...recorded(), process: { ...recorded().process, oomScoreAdj: 500 } }, burstable, image, sandbox).length, 1, 'lowered below the request');
  });
  it("applies the request's add and drop as containerd does: ALL first, then each named one", () => {
    const allowed = (add: string[], drop: string[]) => capabilityAllowed({ privileged: false, capabilities: { add, drop } });
    assert.equal(allowed([], [])('CAP_SYS_ADMIN'), false);
    assert.equal(allowed(['sys_admin'], [])('CAP_SYS_ADMIN'), true);
    assert.equal(allowed([], ['ALL'])('CAP_CHOWN'), false);
    assert.equal(allowed(['NET_BIND_SERVICE'], ['ALL'])('CAP_NET_BIND_SERVICE'), true);
    assert.equal(allowed(['ALL'], ['CHOWN'])('CAP_BPF'), true);
    assert.equal(allowed(['ALL'], ['CHOWN'])('CAP_CHOWN'), false);
  });
  it('builds the environment as containerd does (an image key the request also sets appears twice) and names a variable nobody asked for', () => {
    const p = { envs: [{ key: 'MODE', value: 'prod' }, { key: 'PATH', value: '/bin' }] };
    assert.deepEqual(expectedEnv(p, { Env: ['MODE=dev', 'LANG=C'] }, 'h'), ['PATH=/bin', 'HOSTNAME=h', 'MODE=dev', 'LANG=C', 'MODE=prod']);
    const r = recorded();
    r.process.env!.push('LD_PRELOAD=/var/lib/app/hook.so');
    assert.deepEqual(processDepartures(r, process(), image, sandbox), [
      'process.env ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","HOSTNAME=system-agent","LD_PRELOAD=/var/lib/app/hook.so"] in containerd\'s record, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","HOSTNAME=system-agent"] from the request CRI holds and the signed image config',
    ]);
  });
  it("names a namespace that is the node's, one left out, one added, and a new one where the sandbox's is due", () => {
    const r = recorded();
    r.linux.namespaces = [{ type: 'pid' }, { type: 'ipc', path: '/proc/311/ns/ipc' }, { type: 'uts', path: '/proc/311/ns/uts' }, { type: 'network', path: '/proc/1/ns/net' }, { type: 'time' }];
    assert.deepEqual(processDepartures(r, process(), image, sandbox), [
      'namespace {"type":"time"} in containerd\'s record, which the request CRI holds does not give a container',
      "namespace mount missing from containerd's record: the container would share the node's",
      "the namespaces in containerd's record name 2 processes (311: ipc, uts; 1: network), the request CRI holds one: the pod sandbox's",
      "namespaces network in containerd's record are those of process 1, which is not in the pod sandbox's cgroup",
    ]);
    const pod = requestedProcessOf({ linux: { security_context: { namespace_options: { pid: 0 } } } });
    assert.equal(processDepartures(recorded(), pod, image, sandbox)[0], "namespace pid new in containerd's record, the pod sandbox's from the request CRI holds");
    assert.deepEqual(processDepartures({ ...recorded(), linux: { ...recorded().linux, namespaces: [...recorded().linux.namespaces!, { type: 'cgroup' }] } }, process(), image, sandbox), [], 'a new cgroup namespace (cgroup v2)');
  });
  it("names every namespace of another pod's sandbox, and a namespace path of the wrong type", () => {
    const r = recorded();
    r.linux.namespaces = r.linux.namespaces!.map((n) => (n.path ? { ...n, path: n.path.replace('/311/', '/400/') } : n));
    assert.deepEqual(processDepartures(r, process(), image, sandbox), ["namespaces ipc, uts, network in containerd's record are those of process 400, which is not in the pod sandbox's cgroup"]);
    r.linux.namespaces = recorded().linux.namespaces!.map((n) => (n.type === 'network' ? { ...n, path: '/proc/311/ns/ipc' } : n));
    assert.deepEqual(processDepartures(r, process(), image, sandbox), ['namespace network "/proc/311/ns/ipc" in containerd\'s record, the pod sandbox\'s from the request CRI holds']);
  });
  it("knows the sandbox's process by its cgroup under the systemd driver too", () => {
    files['/proc/77/cgroup'] = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poduid.slice/cri-containerd-${SB}.scope\n`;
    assert.equal(sandbox.isSandboxProcess(77), true);
    assert.equal(sandbox.isSandboxProcess(400), false);
  });
  it('refuses to judge what it cannot read of the sandbox, saying what', () => {
    assert.deepEqual(processDepartures(recorded(), process(), image, undefined), ["nothing was read of the pod sandbox, so the record's namespaces and HOSTNAME cannot be held to it"]);
    const unreadable = sandboxEvidence('gone', readFile);
    const out = processDepartures(recorded(), process(), image, unreadable);
    assert.match(out[0]!, /^cannot read the pod sandbox's host name, so the record's environment cannot be held to the request: ENOENT/);
    assert.match(out[1]!, /^namespaces ipc, uts, network in containerd's record are those of process 311, which is not in the pod sandbox's cgroup$/);
  });
  describe('the user and its groups (userDepartures, with the verified image\'s /etc/passwd and /etc/group)', () => {
    const accounts = {
      passwd: 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000::/home/agent:/bin/sh\n# a comment\n\nbin:x:2:2::/:/bin/false\n',
      group: 'root:x:0:\nagent:x:1000:\naudio:x:29:agent,bin\nwheel:x:10:root\nstaff:x:50:\n',
    };
    const asRequested = (sc: Record<string, unknown> = {}) => requestedProcessOf({ linux: { security_context: { namespace_options: { pid: 1 }, ...sc } } });
    const withUser = (uid: number, gid: number, additionalGids: number[]) => ({ ...recorded(), process: { ...recorded().process, user: { uid, gid, additionalGids } } });

    it('resolves a user string as containerd does: numbers as they stand, names in the image, a numeric user\'s group from its entry or 0', () => {
      assert.deepEqual(resolveUser('agent', accounts), { uid: 1000, gid: 1000, name: 'agent' });
      assert.deepEqual(resolveUser('1000', accounts), { uid: 1000, gid: 1000, name: 'agent' });
      assert.deepEqual(resolveUser('4242', accounts), { uid: 4242, gid: 0, name: undefined });
      assert.deepEqual(resolveUser('agent:staff', accounts), { uid: 1000, gid: 50, name: 'agent' });
      assert.deepEqual(resolveUser('1000:5', {}), { uid: 1000, gid: 5, name: undefined });
      assert.deepEqual(resolveUser('', accounts), { uid: 0, gid: 0, name: 'root' });
      assert.deepEqual(resolveUser('ghost', accounts), { error: 'user "ghost" is not in the verified image\'s /etc/passwd' });
      assert.deepEqual(resolveUser('agent:ghosts', accounts), { error: 'group "ghosts" is not in the verified image\'s /etc/group' });
      assert.equal(requestedUserString(asRequested({ run_as_user: { value: 1000 }, run_as_group: { value: 5 } }), { User: 'agent' }), '1000:5', 'the request before the image');
      assert.equal(requestedUserString(asRequested(), { User: 'agent' }), 'agent');
    });
    it('accepts what containerd builds: the primary group, the requested groups and, under Merge, the image\'s memberships', () => {
      const merge = asRequested({ supplemental_groups: [3000] });
      assert.deepEqual(userDepartures(withUser(1000, 1000, [1000, 3000, 29]), merge, { User: 'agent' }, accounts), []);
      assert.deepEqual(userDepartures(withUser(0, 0, [0, 10]), asRequested(), {}, accounts), [], 'root, and root\'s memberships');
    });
    it('names a user made root, a group the request does not give, and a membership under the Strict policy', () => {
      assert.deepEqual(userDepartures(withUser(0, 0, [0]), asRequested(), { User: 'agent' }, accounts), [
        'process.user 0:0 in containerd\'s record, 1000:1000 from the user "agent" of the request CRI holds and the signed image config',
        "process.user.additionalGids holds 0 in containerd's record, which neither the request CRI holds nor the verified image's /etc/group gives agent",
      ]);
      assert.deepEqual(userDepartures(withUser(1000, 1000, [1000, 0, 6]), asRequested(), { User: 'agent' }, accounts), [
        "process.user.additionalGids holds 0, 6 in containerd's record, which neither the request CRI holds nor the verified image's /etc/group gives agent",
      ]);
      const strict = asRequested({ supplemental_groups_policy: 1 });
      assert.deepEqual(userDepartures(withUser(1000, 1000, [1000, 29]), strict, { User: 'agent' }, accounts), [
        "process.user.additionalGids holds 29 in containerd's record, which neither the request CRI holds nor the verified image's /etc/group gives agent",
      ]);
    });
    it('refuses to judge a user the verified image cannot resolve, saying which', () => {
      assert.deepEqual(userDepartures(withUser(0, 0, []), asRequested({ run_as_username: 'ghost' }), {}, accounts), [
        'user "ghost" is not in the verified image\'s /etc/passwd, so the record\'s user cannot be held to the request CRI holds and the signed image config',
      ]);
    });
  });
  it('names a seccomp profile taken away or made to allow everything, an unmasked path, and a device nobody asked for', () => {
    const confined = requestedProcessOf({ linux: { security_context: { seccomp: {}, masked_paths: ['/proc/kcore'], readonly_paths: ['/proc/sys'], namespace_options: { pid: 1 } } } });
    const r = recorded();
    r.linux.seccomp = { defaultAction: 'SCMP_ACT_ERRNO' };
    r.linux.maskedPaths = ['/proc/kcore'];
    r.linux.readonlyPaths = ['/proc/sys'];
    assert.deepEqual(processDepartures(r, confined, image, sandbox), []);
    r.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
    r.linux.maskedPaths = [];
    r.linux.devices = [{ path: '/dev/sda', type: 'b', major: 8, minor: 0 }];
    r.linux.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'rwm' }, { allow: true, access: 'rwm' }] };
    assert.deepEqual(processDepartures(r, confined, image, sandbox), [
      "linux.seccomp with defaultAction SCMP_ACT_ALLOW in containerd's record, a runtime-default profile from the request CRI holds",
      "linux.maskedPaths in containerd's record lacks /proc/kcore, which the request CRI holds masks",
      "device /dev/sda in containerd's record, which the request CRI holds does not ask for",
      'device cgroup rule {"allow":true,"access":"rwm"} in containerd\'s record allows a device the request CRI holds does not ask for',
    ]);
  });
  it("takes the node's /dev/shm for a container only when the request puts it on the node's IPC namespace", () => {
    const shm = { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind'] };
    const ids = { containerId: 'c1', sandboxId: 's1', sandbox };
    const hostIpc = requestedProcessOf({ linux: { security_context: { namespace_options: { pid: 1, ipc: 2 } } } });
    const withShm = { ...recorded(), mounts: [shm] };
    assert.deepEqual(departuresFromRequest(withShm, { command: [], args: [], mounts: [], process: hostIpc }, image, ids), []);
    assert.equal(departuresFromRequest(withShm, { command: [], args: [], mounts: [], process: process() }, image, ids).length, 1);
  });
});

describe('mountOptionDepartures', () => {
  // The runtime mounts of the record taken from a lab node (above), and one requested bind.
  const recorded = () => ({
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: `${CRI_ROOT}/sandboxes/s1/hosts`, options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/lib/modules', type: 'bind', source: '/lib/modules', options: ['rbind', 'rprivate', 'ro'] },
    ],
    linux: {} as { rootfsPropagation?: string },
  });
  const request = (propagation = 0) => ({ command: [], args: [], mounts: [{ containerPath: '/lib/modules', hostPath: '/lib/modules', image: false, readonly: true, propagation }] });
  it('finds none in the record CRI wrote', () => {
    assert.deepEqual(mountOptionDepartures(recorded(), request(), false), []);
  });
  it("names a writable /sys, /proc that allows set-uid programs, and a read-only bind made writable", () => {
    const r = recorded();
    r.mounts[2]!.options = ['nosuid', 'noexec', 'nodev', 'rw'];
    r.mounts[0]!.options = ['noexec', 'nodev'];
    r.mounts[5]!.options = ['rbind', 'rprivate', 'rw'];
    assert.deepEqual(mountOptionDepartures(r, request(), false), [
      "mount /proc in containerd's record lacks nosuid, which containerd's CRI gives it",
      "mount /sys in containerd's record lacks ro, which containerd's CRI gives it",
      "mount /lib/modules writable in containerd's record, read-only in the request CRI holds",
    ]);
    const privileged = recorded();
    privileged.mounts[2]!.options = ['nosuid', 'noexec', 'nodev', 'rw'];
    assert.deepEqual(mountOptionDepartures(privileged, request(), true), [], 'a privileged container gets a writable /sys');
  });
  it('names mount propagation nobody asked for, on a bind and on the root', () => {
    const r = recorded();
    r.mounts[4]!.options = ['rbind', 'rshared', 'rw'];
    r.linux.rootfsPropagation = 'rshared';
    assert.deepEqual(mountOptionDepartures(r, request(), false), [
      "mount /etc/hosts with shared propagation in containerd's record, which the request CRI holds does not ask for",
      'linux.rootfsPropagation "rshared" in containerd\'s record, which no mount of the request CRI holds asks for',
    ]);
    const asked = recorded();
    asked.mounts[5]!.options = ['rbind', 'rshared', 'ro'];
    asked.linux.rootfsPropagation = 'rshared';
    assert.deepEqual(mountOptionDepartures(asked, request(2), false), [], 'a bidirectional mount the request asked for');
  });
});

describe("accountsIn and resolveInRoot (the image's /etc/passwd and /etc/group under the rootfs the gate mounted)", () => {
  it('follows symlinks inside the rootfs, an absolute one from its root and `..` no higher than it, never to the node\'s files', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync, rmSync, unlinkSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { accountsIn, resolveInRoot } = await import('./runtime-gate.ts');
    const rootfs = mkdtempSync(join(tmpdir(), 'rootfs-'));
    try {
      const read = (p: string) => readFileSync(p, 'utf8');
      assert.deepEqual(accountsIn(rootfs, read), { passwd: undefined, group: undefined }, 'no /etc at all');
      const { execFileSync } = await import('node:child_process');
      mkdirSync(join(rootfs, 'etc'));
      execFileSync('mkfifo', [join(rootfs, 'etc/passwd')]);
      assert.deepEqual(accountsIn(rootfs, read), { passwd: undefined, group: undefined }, 'a FIFO is not read (it would block)');
      rmSync(join(rootfs, 'etc'), { recursive: true });
      mkdirSync(join(rootfs, 'etc'));
      mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
      writeFileSync(join(rootfs, 'usr/lib/passwd'), 'agent:x:1000:1000::/:/bin/sh\n');
      writeFileSync(join(rootfs, 'usr/lib/group'), 'agent:x:1000:\n');
      symlinkSync('../usr/lib/passwd', join(rootfs, 'etc/passwd'));
      // Absolute, as the image means it: /usr/lib/group of the image, not of the node.
      symlinkSync('/usr/lib/group', join(rootfs, 'etc/group'));
      assert.deepEqual(accountsIn(rootfs, read), { passwd: 'agent:x:1000:1000::/:/bin/sh\n', group: 'agent:x:1000:\n' });
      unlinkSync(join(rootfs, 'etc/group'));
      symlinkSync('../../../../../../usr/lib/group', join(rootfs, 'etc/group'));
      assert.equal(resolveInRoot(rootfs, '/etc/group'), join(rootfs, 'usr/lib/group'), '`..` stops at the rootfs');
      unlinkSync(join(rootfs, 'etc/group'));
      symlinkSync('../../../../../../etc/hostname', join(rootfs, 'etc/group'));
      assert.equal(accountsIn(rootfs, read).group, undefined, "the node's /etc/hostname is never read");
      rmSync(join(rootfs, 'etc'), { recursive: true });
      symlinkSync('/usr/lib', join(rootfs, 'etc'));
      assert.equal(resolveInRoot(rootfs, '/etc/passwd'), join(rootfs, 'usr/lib/passwd'), 'a symlinked /etc');
      unlinkSync(join(rootfs, 'etc'));
      symlinkSync('/etc', join(rootfs, 'etc'));
      assert.throws(() => resolveInRoot(rootfs, '/etc/passwd'), /too many symlinks/, 'a link to itself');
      assert.deepEqual(accountsIn(rootfs, read), { passwd: undefined, group: undefined });
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });
});

describe("sandboxNamespaceDepartures (a pod sandbox's namespaces, which every container of the pod joins)", () => {
  const sandbox = (namespaces: { type: string; path?: string }[]) => ({ linux: { namespaces } });
  it('accepts what CRI gives: new namespaces, the netns it mounted for the pod, and host ones left out', () => {
    const pod = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/cni-36af4397-0865-be10-0e2c-3f1d1315f86b' }];
    assert.deepEqual(sandboxNamespaceDepartures(sandbox(pod)), []);
    assert.deepEqual(sandboxNamespaceDepartures(sandbox([{ type: 'mount' }, { type: 'cgroup' }])), [], 'hostNetwork, hostPID and hostIPC, on cgroup v2');
    assert.deepEqual(sandboxNamespaceDepartures(sandbox([{ type: 'mount' }, { type: 'network', path: `${CRI_STATE}/netns/cni-1` }])), [], 'netns under the state directory');
  });
  it("names a namespace that is another process's, a path outside CRI's netns directory, and a shared mount namespace", () => {
    assert.deepEqual(sandboxNamespaceDepartures(sandbox([{ type: 'mount' }, { type: 'network', path: '/proc/1/ns/net' }, { type: 'ipc', path: '/proc/1/ns/ipc' }])), [
      'namespace network "/proc/1/ns/net" in containerd\'s record of the pod sandbox, where CRI gives a new one or the one it mounted for the pod',
      'namespace ipc "/proc/1/ns/ipc" in containerd\'s record of the pod sandbox, where CRI gives a new one',
    ]);
    assert.deepEqual(sandboxNamespaceDepartures(sandbox([{ type: 'mount' }, { type: 'network', path: '/var/run/netns/../../proc/1/ns/net' }])).length, 1, 'no way out of the directory');
    assert.deepEqual(sandboxNamespaceDepartures(sandbox([{ type: 'network' }, { type: 'time' }])), [
      "namespace time in containerd's record of the pod sandbox, which CRI never gives a sandbox",
      "no mount namespace of its own in containerd's record of the pod sandbox",
    ]);
  });
});

describe('resourceDepartures (the cgroup limits CRI builds from the request)', () => {
  // Taken from a lab node on 2026-12-07: kube-system agent-with-limits (limits cpu 200m, memory 64Mi),
  // its record's linux.resources, and the request's resources as containerd's verbose JSON writes them.
  const request = requestedProcessOf({ linux: { resources: { cpu_period: 100000, cpu_quota: 20000, cpu_shares: 204, memory_limit_in_bytes: 67108864, oom_score_adj: 0 } } });
  const devices = [{ allow: false, access: 'rwm' }];
  const recorded = (resources: Record<string, unknown>): RecordedProcessAndMounts => ({ linux: { resources: { devices, ...resources } } });
  const asCri = { memory: { limit: 67108864, swap: 67108864 }, cpu: { shares: 204, quota: 20000, period: 100000 } };

  it('finds none in the record CRI wrote, with swap accounted or not known', () => {
    assert.deepEqual(resourceDepartures(recorded(asCri), request, { swapController: true }), []);
    assert.deepEqual(resourceDepartures(recorded(asCri), request, {}), []);
    assert.deepEqual(resourceDepartures(recorded({ ...asCri, memory: { limit: 67108864 } }), request, { swapController: false }), []);
    assert.deepEqual(resourceDepartures(recorded({ ...asCri, memory: { limit: 67108864 } }), request, {}), []);
  });

  it('finds none for a request without resources, whose record has only devices (or empty objects)', () => {
    const none = requestedProcessOf({});
    assert.deepEqual(resourceDepartures(recorded({}), none, {}), []);
    assert.deepEqual(resourceDepartures(recorded({ cpu: {}, memory: {} }), none, {}), []);
  });

  it('names a memory limit lifted and a CPU quota taken away', () => {
    const d = resourceDepartures(recorded({ cpu: { shares: 204, period: 100000 }, memory: {} }), request, { swapController: true });
    assert.deepEqual(d, [
      'linux.resources.cpu {"period":100000,"shares":204} in containerd\'s record, {"period":100000,"quota":20000,"shares":204} from the request CRI holds',
      'linux.resources.memory {} in containerd\'s record, {"limit":67108864,"swap":67108864} from the request CRI holds',
    ]);
  });

  it('names a raised limit, a swap limit lifted where the node accounts swap, and limits CRI never sets', () => {
    assert.equal(resourceDepartures(recorded({ ...asCri, memory: { limit: 2 ** 40, swap: 2 ** 40 } }), request, { swapController: true }).length, 1);
    assert.equal(resourceDepartures(recorded({ ...asCri, memory: { limit: 67108864 } }), request, { swapController: true }).length, 1);
    assert.deepEqual(resourceDepartures(recorded({ ...asCri, pids: { limit: -1 } }), request, { swapController: true }), ['linux.resources.pids {"limit":-1} in containerd\'s record, where CRI sets none']);
  });

  it('allows huge page limits the request asks for (CRI drops them without a hugetlb controller), and no others', () => {
    const pages = requestedProcessOf({ linux: { resources: { hugepage_limits: [{ page_size: '2MB', limit: 0 }] } } });
    assert.deepEqual(resourceDepartures(recorded({}), pages, {}), []);
    assert.deepEqual(resourceDepartures(recorded({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }), pages, {}), []);
    assert.equal(resourceDepartures(recorded({ hugepageLimits: [{ pageSize: '1GB', limit: 2 ** 40 }] }), pages, {}).length, 1);
  });
});
