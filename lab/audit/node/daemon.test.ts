import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import { AuditEngine, type Alert } from '../engine.ts';
import type { RulesSource } from '../loader.ts';
import type { DecisionRecord } from '../../admission/index.ts';
import { AUDIT_SILENCED_RULE, AuditDaemon, RECORDS_LOST_RULE, RULES_REMOVED_RULE, WATCHDOG_STOPPED_RULE, removeLabRules, type CommandResult, type DaemonConfig, type DaemonIo } from './daemon.ts';
import { fakeProc } from './fake-proc.ts';

const ROOT = join(import.meta.dirname, '../../..');
const FIXTURES = join(import.meta.dirname, '../fixtures/node');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

// The lab the fixtures were captured on.
const LAB = 'mwrvrvmt-17f105';
const NODE = '89549c42c44bff87024121790431499fa3d564236b70a3305eceeb9757b34ee8';
const NODE_PID = 23827;
const APP = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';
const LEGACY = 'b3b2793fa6886192c104a66dc3c33048895de9d5f4238da14f3e8d15e1ff33a7';
const PRIVILEGED = 'fc3886a7ef9a9ebf6c1a6b7db83639a3990f80035b39cd34cc58941d18a20f37';

const RULES: Record<string, string> = {
  '/lab-audit/rules/00-builtin.yaml': readFileSync(BUILTIN_RULES_PATH, 'utf8'),
  '/lab-audit/rules/50-apps-shell.yaml': readFileSync(join(ROOT, 'scenarios/audit-rules/apps-shell.yaml'), 'utf8'),
  '/lab-audit/rules/50-k8s.yaml': readFileSync(join(ROOT, 'scenarios/audit-rules/k8s-denied-pods.yaml'), 'utf8'),
  '/lab-audit/rules/50-broken.yaml': readFileSync(join(ROOT, 'scenarios/audit-rules/invalid/syntax-error.yaml'), 'utf8'),
};

interface Harness {
  daemon: AuditDaemon;
  /** /proc as the daemon sees it; tests make processes appear and exit. */
  files: Record<string, string>;
  /** Its symbolic links (/proc/<pid>/ns/pid). */
  links: Record<string, string>;
  alerts: Alert[];
  auditctl: string[][];
  inNode: string[][];
  records: string[][];
}

function cgroupOf(containerId: string): string {
  return fixture('cgroup-container-init.txt').replaceAll(APP, containerId);
}

/**
 * The daemon over captured data: CRI answers of four real containers, a
 * /proc where their inits (and the node's containerd) are alive but the
 * short-lived processes of the captured records are already gone.
 */
function harness(options: { created?: readonly string[]; watchdogCommand?: string[]; tearingDown?: () => boolean; ruleList?: () => string } = {}): Harness {
  const h = { alerts: [], auditctl: [], inNode: [], records: [] } as unknown as Harness;
  const cri: Record<string, { status: { id: string; state: string } }> = {};
  for (const name of ['app', 'legacy-app', 'privileged-tool', 'host-etc-reader']) {
    const c = JSON.parse(fixture(`cri-${name}.json`)) as { status: { id: string; state: string } };
    // Created, not started: StartContainer is under way and runc start is held (start-hold.ts).
    if (options.created?.includes(c.status.id)) c.status.state = 'CONTAINER_CREATED';
    cri[c.status.id] = c;
  }
  const files: Record<string, string> = {
    [`/proc/${NODE_PID}/mountinfo`]: fixture('node-mountinfo.txt'),
    [`/proc/${NODE_PID}/cgroup`]: fixture('cgroup-node.txt'),
    [`/proc/${NODE_PID}/stat`]: `${NODE_PID} (lab-node-init) S 1 1 1 0`,
    // containerd in the node, parent of the setns/mount events.
    '/proc/23871/cgroup': fixture('cgroup-node.txt'),
    '/proc/23871/stat': '23871 (containerd) S 23827 1 1 0',
    '/proc/23871/cmdline': 'containerd\0',
    // The containers' inits.
    '/proc/24159/cgroup': cgroupOf(APP),
    '/proc/24159/stat': '24159 (run.sh) S 24000 1 1 0',
    '/proc/24238/cgroup': cgroupOf(LEGACY),
    '/proc/24238/stat': '24238 (run.sh) S 24100 1 1 0',
    '/proc/24238/root/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    '/proc/24300/cgroup': cgroupOf(PRIVILEGED),
    '/proc/24300/stat': '24300 (run.sh) S 24200 1 1 0',
    // audit-tap in the sidecar: a process of the host, not of the lab.
    '/proc/4083/cgroup': '9:name=systemd:/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n',
    '/proc/4083/stat': '4083 (audit-tap) S 4076 1 1 0',
  };
  h.files = files;
  h.links = { [`/proc/${NODE_PID}/ns/pid`]: 'pid:[4026532720]' };
  const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '' });
  const io: DaemonIo = {
    now: () => new Date('2026-11-22T13:36:44Z'),
    proc: fakeProc(files, h.links),
    listContainers: async () => Object.values(cri).map((c) => ({ id: c.status.id, state: c.status.state })),
    containerStatus: async (id) => {
      if (!cri[id]) throw new Error(`rpc error: code = NotFound desc = an error occurred when try to find container "${id}"`);
      return cri[id] as never;
    },
    auditctl: async (args) => {
      h.auditctl.push([...args]);
      if (args[0] === '-l') return ok(options.ruleList?.() ?? 'No rules\n');
      // The sensitive trees do not exist in these busybox images.
      return args.some((a) => a.includes('sudoers.d') || a.includes('serviceaccount')) ? { exitCode: 1, stdout: '', stderr: 'Error sending add rule data request (No such file or directory)' } : ok();
    },
    auditctlInNode: async (args) => {
      h.inNode.push([...args]);
      return args.some((a) => a.includes('sudoers.d') || a.includes('serviceaccount')) ? { exitCode: 1, stdout: '', stderr: 'Error sending add rule data request (No such file or directory)' } : ok();
    },
    readRules: async (paths): Promise<RulesSource[]> => paths.map((p) => {
      const content = RULES[p];
      if (content === undefined) throw new Error(`no such rules file ${p}`);
      return { name: p, content };
    }),
    emit: (alert) => h.alerts.push(alert),
    record: (lines) => h.records.push([...lines]),
    ...(options.tearingDown ? { tearingDown: options.tearingDown } : {}),
    log: () => {},
  };
  const config: DaemonConfig = { labId: LAB, nodeContainerId: NODE, nodePid: NODE_PID, hostname: 'lab-audit-capture', sensitivePaths: [{ path: '/etc/shadow' }, { path: '/etc/sudoers.d', tree: true }], rulesFiles: ['/lab-audit/rules/00-builtin.yaml'], ...(options.watchdogCommand ? { watchdogCommand: options.watchdogCommand } : {}) };
  h.daemon = new AuditDaemon(config, io, new AuditEngine({ hostname: config.hostname }));
  return h;
}


function feedSample(h: Harness): void {
  for (const line of fixture('audit-sample.log').split('\n')) h.daemon.handleAuditLine(line);
  h.daemon.tick();
  h.daemon.tick();
}

describe('AuditDaemon', () => {
  describe('when it starts', () => {
    it('loads the configured rules and sets the lab rule', async () => {
      const h = harness();
      await h.daemon.start();
      assert.deepEqual(h.auditctl, [
        ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'setns,mount,move_mount,mount_setattr', '-k', `il:${LAB}:`],
        ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'memfd_create,execveat', '-k', `il:${LAB}:`],
        ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'io_uring_setup', '-k', `il:${LAB}:`],
        ['-a', 'always,exit', '-F', 'arch=b32', '-S', 'execve,execveat,open,openat,openat2,memfd_create,setns,mount,move_mount,mount_setattr,io_uring_setup', '-k', `il:${LAB}:`],
      ]);
      assert.equal(h.daemon.rulesSummary().count, 7);
    });
  });

  describe('when the inventory finds containers (captured CRI answers)', async () => {
    const h = harness();
    await h.daemon.start();
    const found = await h.daemon.syncInventory();
    it('emits one container event each, and the privileged one raises its alert', () => {
      assert.equal(found, 4);
      assert.deepEqual(h.alerts.map((a) => a.rule).sort(), ['Privileged container started', 'Sensitive host path mounted into a container']);
      assert.equal(h.daemon.counters.containerEvents, 4);
    });
    it('sets each running container\'s exec tree in the node\'s mount namespace and its file watches through /proc/<pid>/root', () => {
      const app = h.daemon.status().containers.find((c) => c.id === APP)!;
      assert.equal(app.hostPid, 24159);
      assert.ok(h.inNode.some((r) => r.join(' ') === `-a always,exit -F arch=b64 -S execve,execveat -F dir=/run/containerd/io.containerd.runtime.v2.task/k8s.io/${APP}/rootfs -k il:${LAB}:${APP.slice(0, 12)}`));
      assert.ok(h.auditctl.some((r) => r.includes('path=/proc/24159/root/etc/shadow')));
      assert.equal(app.rules.length, 2);
      assert.match(app.skipped.join('\n'), /sudoers\.d.*No such file or directory/);
    });
    it('does not look at a container twice', async () => {
      assert.equal(await h.daemon.syncInventory(), 0);
    });
    it('skips rules for a container whose processes are already gone, and says why', () => {
      const gone = h.daemon.status().containers.find((c) => c.name === 'host-etc-reader')!;
      assert.equal(gone.rules.length, 0);
      assert.match(gone.skipped[0]!, /no process of the container/);
    });
  });

  describe('when runc start of a container is held until its rules are set (start-hold.ts)', () => {
    const execTree = (h: Harness, id: string) => h.inNode.filter((r) => r.includes('execve,execveat') && r.some((a) => a.includes(`/${id}/rootfs`)));
    it('the inventory poll alone does not watch a container that is only created: its first instant would go unaudited', async () => {
      const h = harness({ created: [APP] });
      await h.daemon.start();
      await h.daemon.syncInventory();
      assert.equal(h.daemon.status().containers.find((c) => c.id === APP), undefined);
      assert.deepEqual(execTree(h, APP), []);
    });
    it('sets the exec tree and the file watches of the created container before it starts', async () => {
      const h = harness({ created: [APP] });
      await h.daemon.start();
      const { watch, reason } = await h.daemon.watchBeforeStart(APP);
      assert.equal(reason, undefined);
      assert.equal(watch?.hostPid, 24159);
      assert.equal(watch?.rules.length, 2);
      assert.equal(execTree(h, APP).length, 1);
      assert.ok(h.auditctl.some((r) => r.includes('path=/proc/24159/root/etc/shadow')));
    });
    it('sets them once when the poll finds the container at the same moment', async () => {
      const h = harness();
      await h.daemon.start();
      await Promise.all([h.daemon.syncInventory(), h.daemon.watchBeforeStart(APP), h.daemon.watchBeforeStart(APP)]);
      assert.equal(execTree(h, APP).length, 1);
      assert.equal(h.daemon.status().containers.filter((c) => c.id === APP).length, 1);
    });
    it('answers at once, with the reason, for an id that is not a CRI container (a sandbox)', async () => {
      const h = harness();
      await h.daemon.start();
      const { watch, reason } = await h.daemon.watchBeforeStart('f'.repeat(64));
      assert.equal(watch, undefined);
      assert.match(reason!, /not a CRI container .*NotFound/);
      assert.equal(h.inNode.length, 0);
    });
  });

  describe('when something is mounted onto a container from the node and unmounted at once (a transient overmount)', () => {
    // nsenter -m from the node: mount(8) is the node's by cgroup and gone
    // before its record is read; its target's device is the container's rootfs (0:62 = 00:3e).
    const mountRecord = (dev: string, serial: number) => [
      `type=SYSCALL msg=audit(1795354700.000:${serial}): arch=c000003e syscall=165 success=yes exit=0 a0=55d0 a1=55e0 a2=55f0 a3=0 items=1 ppid=99998 pid=99999 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="mount" exe="/bin/busybox" key="il:${LAB}:"`,
      `type=PATH msg=audit(1795354700.000:${serial}): item=0 name="/opt/agent" inode=1234 dev=${dev} mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
      `type=EOE msg=audit(1795354700.000:${serial}):`,
    ];
    it('places the mount in the container whose root file system its target is on, and alerts', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      h.alerts.length = 0;
      for (const line of mountRecord('00:3e', 90001)) h.daemon.handleAuditLine(line);
      const alert = h.alerts.find((a) => a.rule === "Mount on a container's root file system");
      assert.equal(alert?.output_fields['container.id'], APP.slice(0, 12));
      assert.equal(h.daemon.status().recentPlacements.at(-1)?.by, 'mount-target');
    });
    it('does not place a mount whose target is on no container of the lab (and the gone process cannot be placed)', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      h.alerts.length = 0;
      for (const line of mountRecord('00:99', 90002)) h.daemon.handleAuditLine(line);
      assert.deepEqual(h.alerts, []);
      assert.equal(h.daemon.counters.unplaced, 1);
    });
  });

  describe('when the kernel sends the lab\'s records (captured)', async () => {
    const h = harness();
    await h.daemon.start();
    await h.daemon.syncInventory();
    h.alerts.length = 0;
    feedSample(h);
    it('raises the shell alert for the sh that CRI exec started, with its container and pod', () => {
      const shell = h.alerts.find((a) => a.rule === 'Shell spawned in a container');
      assert.ok(shell, h.alerts.map((a) => a.rule).join(', '));
      assert.equal(shell.output_fields['container.id'], APP.slice(0, 12));
      assert.equal(shell.output_fields['container.name'], 'app');
      assert.equal(shell.output_fields['k8s.ns.name'], 'apps');
      assert.equal(shell.output_fields['k8s.pod.name'], 'app');
      assert.equal(shell.output_fields['container.image.repository'], '127.0.0.1:5000/lab/app');
      assert.equal(shell.output_fields['proc.cmdline'], 'sh -c id; cat /proc/self/cgroup');
    });
    it('raises the secrets alert for cat /etc/shadow, placed by the key of that container\'s watch although cat is gone', () => {
      const read = h.alerts.find((a) => a.rule === 'Read of a sensitive file');
      assert.ok(read);
      assert.equal(read.output_fields['container.id'], LEGACY.slice(0, 12));
      assert.equal(read.output_fields['fd.name'], '/etc/shadow');
      assert.equal(read.output_fields['user.name'], 'root');
    });
    it('raises nothing else: the sleep loop and containerd\'s setns and mounts are benign', () => {
      assert.deepEqual(h.alerts.map((a) => a.rule).sort(), ['Read of a sensitive file', 'Shell spawned in a container']);
    });
    it('places node events as the host (container.id=host) and writes every placed event to the record log', () => {
      const placements = h.daemon.status().recentPlacements;
      assert.ok(placements.some((p) => p.pid === 23871 && p.scope.scope === 'node' && p.by === 'cgroup'));
      assert.ok(placements.some((p) => p.pid === 24576 && p.by === 'rule-key'));
      assert.equal(h.records.length, h.daemon.counters.inLab);
      assert.ok(h.records.flat().every((l) => l.startsWith('type=')));
    });
  });

  describe('when a process was seen in the node and then read a container\'s file after it left', () => {
    it('trusts the key of the container\'s watch over what it saw before (runc init setns, then exec in the container)', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      // pid 24597 first shows up as a node process (runc init joining namespaces)…
      h.files['/proc/24597/cgroup'] = fixture('cgroup-node.txt');
      h.files['/proc/24597/stat'] = '24597 (runc:[2:INIT]) S 24238 1 1 0';
      h.daemon.handleAuditLine('type=SYSCALL msg=audit(1795354604.900:21500): arch=c000003e syscall=308 success=yes exit=0 a0=3 a1=40000000 a2=0 a3=0 items=0 ppid=24238 pid=24597 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="runc:[2:INIT]" exe="/" key="il:mwrvrvmt-17f105:"');
      h.daemon.handleAuditLine('type=EOE msg=audit(1795354604.900:21500): ');
      // …then it exits before its openat of the container's /etc/shadow is read.
      delete h.files['/proc/24597/cgroup'];
      delete h.files['/proc/24597/stat'];
      h.alerts.length = 0;
      feedSample(h);
      const read = h.alerts.find((a) => a.rule === 'Read of a sensitive file');
      assert.equal(read?.output_fields['container.id'], LEGACY.slice(0, 12), read?.output);
    });
  });

  describe('when the process that read /etc/shadow has exited but is not reaped yet', () => {
    it('places it by its container rule\'s key, not by the cgroup a zombie shows', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      Object.assign(h.files, { '/proc/24597/cgroup': `8:pids:/\n0::/docker/${NODE}\n`, '/proc/24597/stat': '24597 (cat) Z 24238 1 1 0' });
      h.alerts.length = 0;
      feedSample(h);
      const read = h.alerts.find((a) => a.rule === 'Read of a sensitive file');
      assert.equal(read?.output_fields['container.id'], LEGACY.slice(0, 12), read?.output);
      assert.ok(h.daemon.status().recentPlacements.some((p) => p.pid === 24597 && p.by === 'rule-key'));
    });
  });

  describe('when records come from outside the lab (captured audit-tap output)', () => {
    it('drops them and counts them', async () => {
      const h = harness();
      await h.daemon.start();
      for (const line of fixture('tap-sample.txt').split('\n')) h.daemon.handleTapLine(line);
      h.daemon.tick();
      h.daemon.tick();
      assert.equal(h.daemon.status().tapReady, true);
      assert.equal(h.daemon.counters.lost, 1);
      assert.ok(h.daemon.counters.outside >= 1);
      assert.equal(h.daemon.counters.inLab, 0);
      // The sample's one overflow of the tap is the only alert: nothing of the lab was seen.
      assert.deepEqual(h.alerts.map((a) => a.rule), [RECORDS_LOST_RULE]);
    });
  });

  describe('when audit records are lost', () => {
    it('raises one records-lost alert per tick for the tap overflows, naming no container', async () => {
      const h = harness();
      await h.daemon.start();
      h.daemon.handleTapLine('# lost');
      h.daemon.handleTapLine('# lost');
      h.daemon.tick();
      h.daemon.tick();
      assert.equal(h.alerts.length, 1);
      const alert = h.alerts[0]!;
      assert.equal(alert.rule, RECORDS_LOST_RULE);
      assert.equal(alert.priority, 'Critical');
      // Only these fields: no container, pod or image, so it is never a detection of an attack.
      assert.deepEqual(alert.output_fields, { 'kernel.lost': 0, 'tap.lost': 2 });
      assert.match(alert.output, /^13:36:44\.000000000: Critical audit records were lost/);
    });

    it('counts the kernel\'s lost records from its first reading on, not those from before', async () => {
      const h = harness();
      await h.daemon.start();
      h.daemon.noteKernelStatus({ enabled: 1, backlogLimit: 8192, lost: 5 });
      h.daemon.noteKernelStatus({ enabled: 1, backlogLimit: 8192, lost: 5 });
      assert.equal(h.alerts.length, 0, 'records lost before the lab started are not this lab\'s concern');
      h.daemon.noteKernelStatus({ enabled: 1, backlogLimit: 8192, lost: 8 });
      assert.equal(h.daemon.counters.kernelLost, 3);
      assert.deepEqual(h.alerts.map((a) => [a.rule, a.output_fields['kernel.lost']]), [[RECORDS_LOST_RULE, 3]]);
      h.daemon.tick();
      assert.equal(h.alerts.length, 1, 'no second alert without a new loss');
      // auditctl -s printed no lost line: nothing is concluded.
      h.daemon.noteKernelStatus({ enabled: 1 });
      assert.equal(h.alerts.length, 1);
    });
  });

  describe('when a rules file with a syntax error is loaded into it', async () => {
    const h = harness();
    await h.daemon.start();
    await h.daemon.syncInventory();
    const before = h.daemon.rulesSummary();
    const refused = await h.daemon.reload(1, ['/lab-audit/rules/00-builtin.yaml', '/lab-audit/rules/50-broken.yaml']);
    it('refuses it, naming the file, the rule and the position', () => {
      assert.equal(refused.ok, false);
      assert.equal(refused.error?.code, 'CONDITION_SYNTAX');
      assert.equal(refused.error?.location?.file, '/lab-audit/rules/50-broken.yaml');
      assert.deepEqual([refused.error?.location?.item?.name, refused.error?.location?.line, refused.error?.location?.column], ['Broken rule', 7, 14]);
      assert.deepEqual(refused.rules, before);
    });
    it('keeps evaluating with the last good rules', () => {
      h.alerts.length = 0;
      feedSample(h);
      assert.ok(h.alerts.some((a) => a.rule === 'Shell spawned in a container'));
    });
    it('takes a good file afterwards, and its rule fires', async () => {
      const accepted = await h.daemon.reload(2, ['/lab-audit/rules/00-builtin.yaml', '/lab-audit/rules/50-apps-shell.yaml']);
      assert.equal(accepted.ok, true);
      assert.equal(accepted.rules.count, 8);
      h.alerts.length = 0;
      feedSample(h);
      assert.ok(h.alerts.some((a) => a.rule === 'Shell in the apps namespace' && a.priority === 'Critical'));
      assert.equal(h.daemon.status().lastReload?.generation, 2);
    });
  });

  describe('when an admission decision arrives', () => {
    it('evaluates k8s_audit rules on it', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.reload(1, ['/lab-audit/rules/00-builtin.yaml', '/lab-audit/rules/50-k8s.yaml']);
      const record: DecisionRecord = {
        time: '2026-11-22T13:40:00.000Z', uid: 'u', operation: 'CREATE', namespace: 'baseline-ns', kind: 'Pod', name: 'privileged-tool',
        images: ['127.0.0.1:5000/lab/tool:1.0'], policy: 'pod-security-standards', action: 'deny', outcome: 'denied',
        violations: [{ policy: 'pod-security-standards', mode: 'deny', message: 'privileged' }],
      };
      h.daemon.handleAdmission(record);
      assert.deepEqual(h.alerts.map((a) => [a.rule, a.source]), [['Pod creation denied by admission', 'k8s_audit']]);
      assert.equal(h.daemon.counters.k8sAudit, 1);
    });
  });

  describe('when kube-apiserver\'s own audit Event arrives (a kind control plane\'s log)', () => {
    // The shape kube-apiserver's log backend writes for a pod create the admission webhook denied.
    const denied = {
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: '0f6b7c1e-8d3a-4c55-9f7e-2b1d6a4e9c10', stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/baseline-ns/pods', verb: 'create', user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:authenticated'] },
      objectRef: { resource: 'pods', namespace: 'baseline-ns', name: 'privileged-tool', apiVersion: 'v1' },
      responseStatus: { metadata: {}, status: 'Failure', message: 'admission webhook "pods.integrity-lab.deckhouse.io" denied the request: privileged', reason: 'Forbidden', code: 403 },
      requestObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'privileged-tool', namespace: 'baseline-ns' }, spec: { containers: [{ name: 'privileged-tool', image: '127.0.0.1:5000/lab/tool:1.0', securityContext: { privileged: true } }] } },
      requestReceivedTimestamp: '2026-12-05T17:40:00.100000Z', stageTimestamp: '2026-12-05T17:40:00.180000Z',
    };
    it('evaluates k8s_audit rules on it, and the requesting user is there', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.reload(1, ['/lab-audit/rules/00-builtin.yaml', '/lab-audit/rules/50-k8s.yaml']);
      h.daemon.handleApiServerEvent(denied);
      assert.deepEqual(h.alerts.map((a) => [a.rule, a.source, a.output_fields['ka.target.name']]), [['Pod creation denied by admission', 'k8s_audit', 'privileged-tool']]);
      assert.equal(h.daemon.counters.k8sAudit, 1);
    });
    it('gives a create the apiserver allowed no denial alert', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.reload(1, ['/lab-audit/rules/00-builtin.yaml', '/lab-audit/rules/50-k8s.yaml']);
      h.daemon.handleApiServerEvent({ ...denied, responseStatus: { metadata: {}, code: 201 }, responseObject: denied.requestObject });
      assert.deepEqual(h.alerts, []);
      assert.equal(h.daemon.counters.k8sAudit, 1);
    });
    it('refuses a line that is not an audit Event with EVENT_FORMAT, and does not count it', async () => {
      const h = harness();
      await h.daemon.start();
      assert.throws(() => h.daemon.handleApiServerEvent({ kind: 'Status', apiVersion: 'v1' }), { code: 'EVENT_FORMAT' });
      assert.equal(h.daemon.counters.k8sAudit, 0);
    });
  });

  describe('when the kernel removes a container\'s rules because the container died', () => {
    it('marks that container\'s watch removed', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      h.daemon.handleAuditLine(`type=CONFIG_CHANGE msg=audit(1795354700.000:1): op=remove_rule dir="/run/containerd/io.containerd.runtime.v2.task/k8s.io/${APP}/rootfs" key="il:${LAB}:${APP.slice(0, 12)}" list=4 res=1`);
      h.daemon.tick();
      h.daemon.tick();
      assert.equal(h.daemon.status().containers.find((c) => c.id === APP)?.removedByKernel, true);
      assert.equal(h.daemon.status().containers.find((c) => c.id === LEGACY)?.removedByKernel, false);
      assert.deepEqual(h.alerts.filter((a) => a.rule === RULES_REMOVED_RULE), [], 'the kernel removing what it watched is no finding');
    });
    it('takes a watch rule the kernel removed (path=, after auid and ses) as the kernel\'s too', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      h.daemon.handleAuditLine(`type=CONFIG_CHANGE msg=audit(1795354700.000:1): auid=4294967295 ses=4294967295 op=remove_rule path="/proc/24159/root/etc/shadow" key="il:${LAB}:${APP.slice(0, 12)}" list=4 res=1`);
      h.daemon.tick();
      h.daemon.tick();
      assert.deepEqual(h.alerts.filter((a) => a.rule === RULES_REMOVED_RULE), []);
    });
  });

  describe("when a process removes a running container's rules (auditctl -D -k KEY from the node)", () => {
    /** The records `auditctl -D -k KEY` makes, as this kernel wrote them (2026-12-07): one CONFIG_CHANGE and its SYSCALL per rule. */
    const removal = (serial: number, containerId: string) => [
      `type=CONFIG_CHANGE msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): auid=4294967295 ses=4294967295 op=remove_rule key="il:${LAB}:${containerId.slice(0, 12)}" list=4 res=1`,
      `type=SYSCALL msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): arch=c000003e syscall=44 success=yes exit=1080 a0=3 a1=7fff2e99c8b0 a2=438 a3=0 items=0 ppid=6656 pid=6680 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`,
    ];

    it('raises one alert naming the container and the process, and sets its rules again', async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      const before = { auditctl: h.auditctl.length, inNode: h.inNode.length };
      for (const line of [...removal(1, APP), ...removal(2, APP), ...removal(3, APP)]) h.daemon.handleAuditLine(line);
      h.daemon.tick();
      h.daemon.tick();
      const alerts = h.alerts.filter((a) => a.rule === RULES_REMOVED_RULE);
      assert.equal(alerts.length, 1, 'one request, one alert');
      assert.equal(alerts[0]!.priority, 'Critical');
      assert.equal(alerts[0]!.output_fields['container.id'], APP.slice(0, 12));
      assert.equal(alerts[0]!.output_fields['proc.pid'], 6680);
      assert.match(alerts[0]!.output, /audit rules of running container .*\(4b0a212671a3\) were removed by process 6680 \(\/usr\/sbin\/auditctl\), not by the kernel/);
      await new Promise((r) => setImmediate(r));
      const again = [...h.auditctl.slice(before.auditctl), ...h.inNode.slice(before.inNode)];
      assert.ok(again.length > 0 && again.every((args) => args.includes(`key=il:${LAB}:${APP.slice(0, 12)}`) || args.includes(`il:${LAB}:${APP.slice(0, 12)}`)), JSON.stringify(again));
      const watch = h.daemon.status().containers.find((c) => c.id === APP)!;
      assert.equal(watch.removedByProcess, 1);
      assert.equal(watch.removedByKernel, false);
      assert.equal(new Set(watch.rules).size, watch.rules.length, 'rules set again are not listed twice');
    });

    it("neither alerts nor sets the rules again once the host tears the lab down (the harness's own cleanup)", async () => {
      let tearingDown = false;
      const h = harness({ tearingDown: () => tearingDown });
      await h.daemon.start();
      await h.daemon.syncInventory();
      tearingDown = true;
      const before = { auditctl: h.auditctl.length, inNode: h.inNode.length };
      for (const line of removal(1, APP)) h.daemon.handleAuditLine(line);
      h.daemon.tick();
      h.daemon.tick();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(h.alerts.filter((a) => a.rule === RULES_REMOVED_RULE), []);
      assert.deepEqual([...h.auditctl.slice(before.auditctl), ...h.inNode.slice(before.inNode)], []);
    });

    it('sets no rules for a container it first finds once the host tears the lab down (they would outlive the cleanup)', async () => {
      const h = harness({ tearingDown: () => true });
      await h.daemon.start();
      const before = { auditctl: h.auditctl.length, inNode: h.inNode.length };
      assert.equal(await h.daemon.syncInventory(), 0);
      assert.deepEqual([...h.auditctl.slice(before.auditctl), ...h.inNode.slice(before.inNode)], []);
      assert.deepEqual(h.daemon.status().containers, []);
    });

    it("does not alert for another lab's key, nor once the kernel removed the container's rules (it exited)", async () => {
      const h = harness();
      await h.daemon.start();
      await h.daemon.syncInventory();
      for (const line of removal(1, APP)) h.daemon.handleAuditLine(line.replace(`il:${LAB}:`, 'il:otherlab-000000:'));
      h.daemon.handleAuditLine(`type=CONFIG_CHANGE msg=audit(1795354700.010:10): op=remove_rule dir="/run/containerd/io.containerd.runtime.v2.task/k8s.io/${APP}/rootfs" key="il:${LAB}:${APP.slice(0, 12)}" list=4 res=1`);
      for (const line of removal(11, APP)) h.daemon.handleAuditLine(line);
      h.daemon.tick();
      h.daemon.tick();
      assert.deepEqual(h.alerts.filter((a) => a.rule === RULES_REMOVED_RULE), []);
    });
  });
});

describe('AuditDaemon.checkWatchdog', () => {
  const WATCHDOG = '/opt/integrity-lab/watchdog.mjs';
  const CONFIG = '/etc/integrity-lab/watchdog.json';
  const COMMAND = [WATCHDOG, CONFIG];
  /** A process of the node (its pid namespace) or of another (a second lab node), running `argv`. */
  const spawnIn = (h: Harness, pid: number, argv: string[], startTime: number, pidNamespace = 'pid:[4026532720]') => {
    h.files[`/proc/${pid}/cmdline`] = `${argv.join('\0')}\0`;
    h.files[`/proc/${pid}/stat`] = `${pid} (node) S ${NODE_PID} ${pid} ${pid} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 11 0 ${startTime} 1 1`;
    h.links[`/proc/${pid}/ns/pid`] = pidNamespace;
  };
  const exit = (h: Harness, pid: number) => {
    for (const k of Object.keys(h.files)) if (k.startsWith(`/proc/${pid}/`)) delete h.files[k];
    delete h.links[`/proc/${pid}/ns/pid`];
  };
  const stopped = (h: Harness) => h.alerts.filter((a) => a.rule === WATCHDOG_STOPPED_RULE);

  describe('when the watchdog it latched on is gone', () => {
    it('raises one Critical alert naming the running containers, and none while it runs', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      await h.daemon.start();
      await h.daemon.syncInventory();
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.deepEqual(stopped(h), []);
      exit(h, 30001);
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      const alerts = stopped(h);
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.priority, 'Critical');
      assert.match(alerts[0]!.output, /the mount watchdog of the node \(pid 30001 in the host, "node \/opt\/integrity-lab\/watchdog.mjs \/etc\/integrity-lab\/watchdog.json"\) stopped running \(its process is gone\)/);
      assert.ok((alerts[0]!.output_fields['container.ids'] as string[]).includes(APP), 'names the containers left unwatched');
      assert.deepEqual(alerts[0]!.tags.slice(-1), ['T1562.001']);
    });
  });

  describe('when the watchdog is killed and left a zombie (its parent has not reaped it yet)', () => {
    it('reports it gone', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      h.files['/proc/30001/stat'] = h.files['/proc/30001/stat']!.replace(') S ', ') Z ');
      h.files['/proc/30001/cmdline'] = '';
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
    });
  });

  describe('when the watchdog is stopped (SIGSTOP), then let go on', () => {
    it('reports it stopped once, and latches on it again once it runs', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      h.files['/proc/30001/stat'] = h.files['/proc/30001/stat']!.replace(') S ', ') T ');
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      assert.match(stopped(h)[0]!.output, /stopped running \(stopped by SIGSTOP\):/);
      h.files['/proc/30001/stat'] = h.files['/proc/30001/stat']!.replace(') T ', ') S ');
      h.daemon.checkWatchdog();
      exit(h, 30001);
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 2);
      assert.match(stopped(h)[1]!.output, /stopped running \(its process is gone\):/);
    });
  });

  describe('when a thread of the watchdog waits in the cgroup freezer (its state reads D or S, never T), then it is thawed', () => {
    it('reports it frozen once, latches on it again once thawed, and reports a v2 freeze too', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      const thread = (tid: number, state: string, wchan: string) => {
        h.files[`/proc/30001/task/${tid}/stat`] = h.files['/proc/30001/stat']!.replace(/^30001 \(node\) S/, `${tid} (node) ${state}`);
        h.files[`/proc/30001/task/${tid}/wchan`] = wchan;
      };
      thread(30001, 'S', 'do_epoll_wait');
      thread(30007, 'S', 'futex_do_wait');
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.deepEqual(stopped(h), [], 'threads that sleep elsewhere are running');
      thread(30007, 'D', '__refrigerator');
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      assert.match(stopped(h)[0]!.output, /stopped running \(frozen by the cgroup freezer \(its thread 30007 waits in __refrigerator\)\):/);
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1, 'a frozen watchdog is not latched on again');
      thread(30007, 'S', 'futex_do_wait');
      h.daemon.checkWatchdog();
      thread(30001, 'S', 'do_freezer_trap');
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 2);
      assert.match(stopped(h)[1]!.output, /its thread 30001 waits in do_freezer_trap/);
    });

    it('reports one thread stopped on its own (a tracer, or SIGSTOP to a thread) as not running', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      h.files['/proc/30001/task/30009/stat'] = '30009 (node) t 1 30001 30001 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 11 0 5000 1 1';
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      assert.match(stopped(h)[0]!.output, /its thread 30009 is held stopped by a tracer/);
    });
  });

  describe('when the watchdog is set up to be starved (moved to another cgroup, made nicer, SCHED_IDLE)', () => {
    /** A full stat line (52 fields) of thread `tid` of 30001 with this nice value and policy. */
    const threadStat = (tid: number, nice: number, policy: number) =>
      [tid, '(node)', 'S', NODE_PID, 30001, 30001, 0, -1, 4194560, 1, 0, 0, 0, 0, 0, 0, 0, 20, nice, 11, 0, 5000, ...Array(18).fill(0), policy, ...Array(11).fill(0)].join(' ');
    const start = () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.files['/proc/30001/cgroup'] = `1:cpu:/docker/${NODE}\n0::/docker/${NODE}\n`;
      h.files['/proc/30001/task/30001/stat'] = threadStat(30001, 0, 0);
      h.files['/proc/30001/task/30001/cgroup'] = h.files['/proc/30001/cgroup'];
      h.files['/proc/30001/task/30008/stat'] = threadStat(30008, 0, 0);
      h.files['/proc/30001/task/30008/cgroup'] = h.files['/proc/30001/cgroup'];
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.deepEqual(stopped(h), []);
      return h;
    };

    it('reports a thread moved into another cgroup, naming where from and to', () => {
      const h = start();
      h.files['/proc/30001/task/30008/cgroup'] = `1:cpu:/docker/${NODE}/il-attacker-cpu\n0::/docker/${NODE}\n`;
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      assert.match(stopped(h)[0]!.output, new RegExp(`its thread 30008 was moved to another cgroup \\(1:cpu:/docker/${NODE} → 1:cpu:/docker/${NODE}/il-attacker-cpu\\)`));
    });

    it('reports a thread made nicer, but not one made less nice', () => {
      const h = start();
      h.files['/proc/30001/task/30008/stat'] = threadStat(30008, -5, 0);
      h.daemon.checkWatchdog();
      assert.deepEqual(stopped(h), []);
      h.files['/proc/30001/task/30008/stat'] = threadStat(30008, 19, 0);
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      assert.match(stopped(h)[0]!.output, /its thread 30008 was made nicer \(0 to 19\)/);
    });

    it('reports a thread put in SCHED_IDLE', () => {
      const h = start();
      h.files['/proc/30001/task/30001/stat'] = threadStat(30001, 0, 5);
      h.daemon.checkWatchdog();
      assert.match(stopped(h)[0]?.output ?? '', /its thread 30001 was put in SCHED_IDLE/);
    });
  });

  describe('when the pid is taken by another process (same pid, another start time)', () => {
    it('reports the watchdog gone', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 9000);
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
    });
  });

  describe('when a watchdog runs again after the report (a restart, or a decoy)', () => {
    it('latches on it and reports its end too', async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000);
      h.daemon.checkWatchdog();
      exit(h, 30001);
      spawnIn(h, 30500, ['/usr/bin/node', WATCHDOG, CONFIG], 8000);
      h.daemon.checkWatchdog();
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 1);
      exit(h, 30500);
      h.daemon.checkWatchdog();
      assert.equal(stopped(h).length, 2);
      assert.match(stopped(h)[1]!.output, /pid 30500/);
    });
  });

  describe('what it does not take for the watchdog', () => {
    it("ignores another node's watchdog, other programs, the lab's --pin run, and does nothing on a node without one", async () => {
      const h = harness({ watchdogCommand: COMMAND });
      spawnIn(h, 30001, ['node', WATCHDOG, CONFIG], 5000, 'pid:[4026599999]');
      spawnIn(h, 30002, ['sh', '-c', `node ${WATCHDOG} ${CONFIG}`], 5000);
      spawnIn(h, 30003, ['node', '/opt/integrity-lab/gate-daemon.mjs'], 5000);
      // The pins the component takes at lab start, a short run of the same file.
      spawnIn(h, 30004, ['node', WATCHDOG, '--pin', CONFIG], 5000);
      h.daemon.checkWatchdog();
      for (const pid of [30001, 30002, 30003, 30004]) exit(h, pid);
      h.daemon.checkWatchdog();
      assert.deepEqual(stopped(h), []);
      const without = harness();
      spawnIn(without, 30001, ['node', WATCHDOG, CONFIG], 5000);
      without.daemon.checkWatchdog();
      exit(without, 30001);
      without.daemon.checkWatchdog();
      assert.deepEqual(stopped(without), []);
    });
  });
});

describe('removeLabRules', () => {
  describe('when auditctl still lists some of the lab\'s rules after -D', () => {
    it('deletes by the lab\'s key prefix and returns what is left, ignoring other labs', async () => {
      const calls: string[][] = [];
      const listed = `-a always,exit -F arch=b64 -S setns -F key=il:other:\n-w /proc/1/root/etc/shadow -p r -k il:${LAB}:${APP.slice(0, 12)}\n`;
      const left = await removeLabRules(async (args) => {
        calls.push([...args]);
        return { exitCode: 0, stdout: args[0] === '-l' ? listed : '', stderr: '' };
      }, LAB);
      assert.deepEqual(calls, [['-D', '-k', `il:${LAB}:`], ['-l']]);
      assert.deepEqual(left, [`-w /proc/1/root/etc/shadow -p r -k il:${LAB}:${APP.slice(0, 12)}`]);
    });
  });
});

/** Audit lines in, and the two ticks that end their events. */
function feed(h: Harness, lines: string[]): void {
  for (const line of lines) h.daemon.handleAuditLine(line);
  h.daemon.tick();
  h.daemon.tick();
}

const silenced = (h: Harness) => h.alerts.filter((a) => a.rule === AUDIT_SILENCED_RULE);

describe('AuditDaemon: kernel auditing silenced by root (auditctl -e 0, a never or exclude rule)', () => {
  const settle = () => new Promise((r) => setImmediate(r));
  /** What `auditctl -e 0` makes the kernel write, before it stops auditing (the requester's SYSCALL is not recorded then). */
  const switchedOff = (serial: number) => `type=CONFIG_CHANGE msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): op=set audit_enabled=0 old=1 auid=4294967295 ses=4294967295 res=1`;
  const switchedOn = (serial: number) => `type=CONFIG_CHANGE msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): op=set audit_enabled=1 old=0 auid=4294967295 ses=4294967295 res=1`;
  const added = (serial: number, list: number, key = '(null)') => [
    `type=CONFIG_CHANGE msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): auid=4294967295 ses=4294967295 op=add_rule key=${key} list=${list} res=1`,
    `type=SYSCALL msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): arch=c000003e syscall=44 success=yes exit=1080 a0=3 a1=7fff2e99c8b0 a2=438 a3=0 items=0 ppid=6656 pid=6690 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`,
  ];
  const LAB_RULE = `-a always,exit -F arch=b64 -S execve,execveat -F key=il:${LAB}:${APP.slice(0, 12)}`;

  it('reports auditing switched off once, naming the running containers, and switches it on again', async () => {
    const h = harness();
    await h.daemon.start();
    await h.daemon.syncInventory();
    feed(h, [switchedOff(1)]);
    h.daemon.noteKernelStatus({ enabled: 0 });
    await settle();
    const alerts = silenced(h);
    assert.equal(alerts.length, 1, 'one alert while it stays off');
    assert.equal(alerts[0]!.priority, 'Critical');
    assert.ok((alerts[0]!.output_fields['container.ids'] as string[]).includes(APP));
    assert.match(alerts[0]!.output, /kernel auditing was switched off by a process whose syscall was not recorded; .*containers running now: .*\(4b0a212671a3\)/);
    assert.deepEqual(h.auditctl.filter((a) => a[0] === '-e'), [['-e', '1']]);
    // On again, then off again: a second alert.
    feed(h, [switchedOn(2), switchedOff(3)]);
    assert.equal(silenced(h).length, 2);
  });

  it('also finds auditing off from the periodic status alone', async () => {
    const h = harness();
    await h.daemon.start();
    h.daemon.noteKernelStatus({ enabled: 1, lost: 0 });
    assert.equal(silenced(h).length, 0);
    h.daemon.noteKernelStatus({ enabled: 0, lost: 0 });
    assert.equal(silenced(h).length, 1);
  });

  it('says nothing before its own rules are set, nor once the host tears the lab down (the last lab puts auditing back off)', async () => {
    const early = harness();
    early.daemon.noteKernelStatus({ enabled: 0 });
    feed(early, [switchedOff(1)]);
    assert.equal(silenced(early).length, 0);
    const late = harness({ tearingDown: () => true });
    await late.daemon.start();
    feed(late, [switchedOff(1), ...added(2, 1)]);
    late.daemon.noteKernelStatus({ enabled: 0 });
    await settle();
    assert.equal(silenced(late).length, 0);
    assert.deepEqual(late.auditctl.filter((a) => a[0] === '-e' || a[0] === '-l'), []);
  });

  it('reports a never rule another process added, naming it and the process, and removes it', async () => {
    let rules = `-a never,task\n${LAB_RULE}\n`;
    const h = harness({ ruleList: () => rules });
    await h.daemon.start();
    await h.daemon.syncInventory();
    feed(h, added(1, 1));
    await settle();
    await settle();
    const alerts = silenced(h);
    assert.equal(alerts.length, 1);
    assert.match(alerts[0]!.output, /rules that suppress records were added by process 6690 \(\/usr\/sbin\/auditctl\): -a never,task/);
    assert.deepEqual(alerts[0]!.output_fields['audit.rules'], ['-a never,task']);
    assert.deepEqual(h.auditctl.filter((a) => a[0] === '-d'), [['-d', 'never,task']]);
    rules = LAB_RULE;
  });

  it('reports a rule that was gone before the lists were read, and leaves an always rule of another party alone', async () => {
    let rules = `${LAB_RULE}\n`;
    const h = harness({ ruleList: () => rules });
    await h.daemon.start();
    await h.daemon.syncInventory();
    feed(h, added(1, 4));
    await settle();
    await settle();
    assert.equal(silenced(h).length, 1);
    assert.match(silenced(h)[0]!.output, /added to the exit list by process 6690 .* was gone before the daemon read the lists/);
    rules = `${LAB_RULE}\n-a always,exit -F arch=b64 -S openat -F key=host-auditd\n`;
    feed(h, added(2, 4, 'host-auditd'));
    await settle();
    await settle();
    assert.equal(silenced(h).length, 1, 'an always rule only adds records');
    assert.deepEqual(h.auditctl.filter((a) => a[0] === '-d'), []);
  });

  it("reads the lists once for the labs' own exit rules, at the next tick, and says nothing of always rules", async () => {
    const h = harness({ ruleList: () => `${LAB_RULE}\n` });
    await h.daemon.start();
    const before = h.auditctl.length;
    for (const line of [...added(1, 4, `"il:${LAB}:${APP.slice(0, 12)}"`), ...added(2, 4, '"il:otherlab-000000:"')]) h.daemon.handleAuditLine(line);
    assert.deepEqual(h.auditctl.slice(before), [], 'nothing read before the tick');
    feed(h, []);
    await settle();
    assert.deepEqual(h.auditctl.slice(before), [['-l']], 'one read for both');
    assert.equal(silenced(h).length, 0);
  });

  it('takes no key for proof: a never rule that carries a lab key is reported, on the exit list at the next tick, on any other list at once', async () => {
    let rules = `${LAB_RULE}\n-a never,exit -F arch=b64 -S execve -F key=il:${LAB}:\n`;
    const h = harness({ ruleList: () => rules });
    await h.daemon.start();
    await h.daemon.syncInventory();
    feed(h, added(1, 4, `"il:${LAB}:"`));
    await settle();
    await settle();
    assert.equal(silenced(h).length, 1);
    assert.deepEqual(h.auditctl.filter((a) => a[0] === '-d'), [['-d', 'never,exit', '-F', 'arch=b64', '-S', 'execve', '-F', `key=il:${LAB}:`]]);
    rules = `${LAB_RULE}\n-a never,task -F key=il:${LAB}:\n`;
    feed(h, added(2, 1, `"il:${LAB}:"`));
    await settle();
    await settle();
    assert.equal(silenced(h).length, 2);
    assert.match(silenced(h)[1]!.output, /-a never,task/);
  });
});

describe('AuditDaemon: kernel auditing throttled by root (auditctl -r, -b)', () => {
  const set = (serial: number, field: string, value: number, old: number) => [
    `type=CONFIG_CHANGE msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): op=set ${field}=${value} old=${old} auid=4294967295 ses=4294967295 res=1`,
    `type=SYSCALL msg=audit(1795354700.${String(serial).padStart(3, '0')}:${serial}): arch=c000003e syscall=44 success=yes exit=60 a0=3 a1=7fff2e99c8b0 a2=3c a3=0 items=0 ppid=6656 pid=6700 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`,
  ];

  it('reports a rate limit and a lowered backlog limit, naming the process and the containers, and undoes each', async () => {
    const h = harness();
    await h.daemon.start();
    await h.daemon.syncInventory();
    feed(h, [...set(1, 'audit_rate_limit', 1, 0), ...set(2, 'audit_backlog_limit', 1, 8192)]);
    await new Promise((r) => setImmediate(r));
    const alerts = silenced(h);
    assert.equal(alerts.length, 2);
    assert.match(alerts[0]!.output, /throttled to a rate limit of 1 records a second by process 6700 \(\/usr\/sbin\/auditctl\).*\(4b0a212671a3\)/);
    assert.match(alerts[1]!.output, /a backlog limit of 1 records/);
    assert.deepEqual(h.auditctl.filter((a) => a[0] === '-r' || a[0] === '-b'), [['-r', '0'], ['-b', '8192']]);
  });

  it("takes no rate limit of 0, no backlog limit at or above the lab's, and nothing while the lab tears down, for throttling", async () => {
    const h = harness();
    await h.daemon.start();
    feed(h, [...set(1, 'audit_rate_limit', 0, 1), ...set(2, 'audit_backlog_limit', 8192, 64), ...set(3, 'audit_backlog_wait_time', 0, 60000)]);
    assert.equal(silenced(h).length, 0);
    const late = harness({ tearingDown: () => true });
    await late.daemon.start();
    feed(late, set(1, 'audit_backlog_limit', 64, 8192));
    assert.equal(silenced(late).length, 0, 'the last lab puts the backlog limit back at teardown');
  });
});
