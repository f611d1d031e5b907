import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import * as wd from '../lab/watchdog/index.ts';
import { poll, sleep } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { KIND_START_TIMEOUT, nodeOf, restartContainer, startExitingWorkload, startLab, theNode } from './support/substrate.ts';

// ------------------------------------------------------------- the node

// Like `Given a lab node with the … profile`, with the profile's watchdog set to notice mount changes by "fanotify" or "poll" (any other
// value, or a profile without spec.watchdog, fails the step); the watchdog's status is attached.
Given('a lab node with the {profile} profile and the watchdog noticing mounts by {string}', { timeout: KIND_START_TIMEOUT }, async function (this: LabWorld, profile: LabProfile, notify: string) {
  assert.ok(profile.spec.watchdog, `profile "${profile.metadata.name}" has no spec.watchdog`);
  assert.ok(notify === 'fanotify' || notify === 'poll', `notify: expected "fanotify" or "poll", got "${notify}"`);
  const tuned: LabProfile = { ...profile, spec: { ...profile.spec, watchdog: { ...profile.spec.watchdog, notify } } };
  await startLab(this, tuned);
  this.attachJson('watchdog-status', await wd.watchdogStatus(theNode(this)));
});

// Creates the directory on the node if needed and mounts a tmpfs of that size on it (mode 0755), as the kubelet does for a memory emptyDir.
// Fails on a kind cluster of more than one node.
Given('the node directory {string} is a {int} MiB tmpfs', async function (this: LabWorld, dir: string, mib: number) {
  await wd.mountNodeTmpfs(theNode(this), dir, mib);
});

// Writes a file of that many MiB of random bytes on the node (dd from /dev/urandom), creating its directory if needed. Fails on a kind cluster of more than one node.
Given('the node file {string} holds {int} MiB', async function (this: LabWorld, path: string, mib: number) {
  await wd.writeNodeFile(theNode(this), path, mib);
});

// Creates the directory on the node (`mkdir -p`). Fails on a kind cluster of more than one node.
Given('the node directory {string} exists', async function (this: LabWorld, dir: string) {
  await theNode(this).run(['mkdir', '-p', dir]);
});

// ------------------------------------------------------------- benign work

// Runs `sh -c <command>` in the workload's first container over CRI ExecSync (30 s timeout) on its node, attaches the output, and fails unless
// it exits 0.
When('the workload {workload} runs {string} through exec', async function (this: LabWorld, workload: Workload, command: string) {
  const r = await nodeOf(this, workload.metadata.name).cri.execSync(this.pod(workload.metadata.name).containers[0]!.id, ['sh', '-c', command]);
  this.attachText(`exec-${workload.metadata.name}`, `$ ${command}\nexit ${r.exitCode}\n${r.stdout.toString()}${r.stderr.toString()}`);
  assert.equal(r.exitCode, 0, `exec "${command}" in ${workload.metadata.name} exited ${r.exitCode}: ${r.stderr.toString()}`);
});

// Restarts the workload's container as the kubelet would: on a lab node it is stopped (2 s grace) and a new container (attempt + 1, with only the old one's
// image, mounts and labels) is created and started in the same sandbox; on kind it is stopped and the kubelet's restart awaited up to 90 s.
// Later steps see the new container.
When('the container of {workload} restarts', async function (this: LabWorld, workload: Workload) {
  this.pods.set(workload.metadata.name, await restartContainer(this, workload.metadata.name));
});

// Stops the workload's first container over CRI on its node (StopContainer, 2 s grace) without removing it.
When('the container of {workload} is stopped', async function (this: LabWorld, workload: Workload) {
  await nodeOf(this, workload.metadata.name).cri.stopContainer(this.pod(workload.metadata.name).containers[0]!.id, 2);
});

// Checks: the watchdog watched every running container of the scenario (waiting up to 5 s) and its alert list is empty. Fails on a profile
// without a watchdog, where it would assert nothing.
Then('the watchdog raised no alert', async function (this: LabWorld) {
  const node = theNode(this);
  assert.ok(wd.watchdogOf(node), `profile "${node.profile.metadata.name}" runs no watchdog: this step would assert nothing`);
  // Not vacuous: the watchdog did watch (and so scan) the scenario's running pods.
  const running: string[] = [];
  for (const pod of this.pods.values()) {
    if ((await node.cri.containerState(pod.containers[0]!.id)) === 'CONTAINER_RUNNING') running.push(pod.containers[0]!.id);
  }
  const watched = await wd.awaitWatchdogActivity(node, { timeoutMs: 5000, predicate: (all) => running.every((id) => all.some((a) => a.kind === 'container-added' && a.container === id)) });
  const [alerts, status] = [await wd.watchdogAlerts(node), await wd.watchdogStatus(node)];
  this.attachJson('watchdog-alerts', alerts);
  this.attachJson('watchdog-activity', watched.records);
  this.attachJson('watchdog-status', status);
  assert.ok(watched.ok, `the watchdog did not watch every running container of the scenario within 5000 ms: ${running.join(', ')}`);
  assert.equal(alerts.length, 0, `expected no alert, got ${alerts.length}:\n${alerts.map(wd.formatAlert).join('\n')}`);
});

// ------------------------------------------------------------- attacks

// Checks, from the evidence the last attack collected (no further wait): the watchdog's first alert names the target's container id, pod and
// namespace exactly, its mount line contains the target path between spaces, its time parses and it gives a reason, and it was raised at most
// the given seconds after the attack's mount was done.
Then('the watchdog reported it within {int} s, naming the container, its pod and namespace, the mount line, the time and the reason', function (this: LabWorld, seconds: number) {
  const run = this.lastAttack;
  assert.ok(run, 'no attack was carried out in this scenario');
  const alerts = (run.evidence.watchdogAlerts ?? []) as wd.WatchdogAlert[];
  this.attachJson('watchdog-alerts', alerts);
  const a = alerts[0];
  assert.ok(a, 'the watchdog reported nothing');
  const pod = this.pod(run.attack.spec.target.workload);
  assert.equal(a.container, pod.containers[0]!.id, 'the alert names another container');
  assert.equal(a.pod, pod.name, 'the alert names another pod');
  assert.equal(a.namespace, pod.namespace, 'the alert names another namespace');
  assert.ok(a.mount?.line.includes(` ${run.attack.spec.target.path} `), `the alert's mount line does not show ${run.attack.spec.target.path}: ${a.mount?.line}`);
  assert.ok(!Number.isNaN(Date.parse(a.time)), `the alert's time is not a timestamp: ${a.time}`);
  assert.ok(a.reasons.length > 0 && a.reason.length > 0, 'the alert gives no reason');
  const latency = run.evidence.detectionLatencyMs as number;
  this.attachJson('detection-latency', { latencyMs: latency, notify: a.notify, trigger: a.trigger });
  assert.ok(latency <= seconds * 1000, `the watchdog reported ${latency} ms after the mount, expected within ${seconds * 1000} ms`);
});

// Checks: the first alert's notification source equals the given one exactly ("fanotify" means fanotify-mnt).
Then('the watchdog noticed the mount through {string}', function (this: LabWorld, notify: string) {
  const a = ((this.lastAttack?.evidence.watchdogAlerts ?? []) as wd.WatchdogAlert[])[0];
  assert.ok(a, 'the watchdog reported nothing');
  const expected = notify === 'fanotify' ? 'fanotify-mnt' : notify;
  assert.equal(a.notify, expected, `the watchdog used ${a.notify} (trigger ${a.trigger}), expected ${expected}`);
});

// Checks: CRI reports the container CONTAINER_EXITED and the watchdog logged an enforcement for it.
Then('the watchdog stopped the container of {workload}', async function (this: LabWorld, workload: Workload) {
  const id = this.pod(workload.metadata.name).containers[0]!.id;
  const node = nodeOf(this, workload.metadata.name);
  const { status } = await node.cri.containerStatus(id);
  const enforced = (await wd.watchdogActivity(node)).filter((a) => a.kind === 'enforced' && a.container === id);
  this.attachJson('container-status', status);
  this.attachJson('watchdog-enforcement', enforced);
  assert.equal(status.state, 'CONTAINER_EXITED', `the container of ${workload.metadata.name} is ${status.state}`);
  assert.equal(enforced.length, 1, `expected one enforcement record for ${id}, got ${enforced.length}`);
});

// Checks, waiting up to 15 s: the watchdog logged a trust decision for the container's layers.
Then('the watchdog re-verified every layer of {workload} against its signed root hash', async function (this: LabWorld, workload: Workload) {
  const id = this.pod(workload.metadata.name).containers[0]!.id;
  const { record: trust, layers } = await wd.awaitTrustDecision(nodeOf(this, workload.metadata.name), id, 15_000);
  this.attachJson('watchdog-trust', trust ?? { missing: `no trust record for ${id} within 15000 ms` });
  assert.ok(trust, `the watchdog did not decide on the layers of ${workload.metadata.name} within 15000 ms`);
  // The image's layers plus the standard layer on top.
  assert.equal(layers.length, workload.spec.image.layers.length + 1, `the watchdog re-verifies ${layers.length} layers of ${workload.metadata.name}: ${trust?.message}`);
});

// ------------------------------------------------------------- leftovers

// Leaves a process on the workload's node inside its first container's mount namespace (`nsenter -t <pid> -m sleep 3600`, detached), as a
// debug session never closed would; fails unless the container runs and the process has entered within 2.5 s.
Given('a process on the node holds the mount namespace of {workload}', async function (this: LabWorld, workload: Workload) {
  this.namespaceHolder = await wd.holdNamespace(nodeOf(this, workload.metadata.name), this.pod(workload.metadata.name).containers[0]!.id);
});

// Removes the path on the node with `rm -f` (no error if it is absent). Fails on a kind cluster of more than one node.
When('the node deletes {string}', async function (this: LabWorld, path: string) {
  await theNode(this).run(['rm', '-f', path]);
});

// Checks: df counts at least the file's size as used in the directory while du finds under 1 MiB there.
Then('the node\'s df in {string} still counts the {int} MiB of the deleted file that du no longer finds', async function (this: LabWorld, dir: string, mib: number) {
  const u = await wd.nodeDiskUsage(theNode(this), dir);
  this.watchdogDisk.push({ when: 'file deleted, container running', ...u });
  this.attachJson('disk-usage', this.watchdogDisk);
  assert.ok(u.dfUsedKiB >= mib * 1024, `df counts ${u.dfUsedKiB} KiB used in ${dir}, expected at least ${mib * 1024} (the deleted file is still mounted)`);
  assert.ok(u.duKiB < 1024, `du finds ${u.duKiB} KiB in ${dir}; the file should have no name any more`);
});

// Checks, polling every 200 ms up to the given seconds: df's used space in the directory drops below a tenth of the file's size
// ("released") or stays above it until then ("still held").
Then('within {int} s the {int} MiB of the deleted file in {string} are {string}', async function (this: LabWorld, seconds: number, mib: number, dir: string, expected: string) {
  assert.ok(expected === 'released' || expected === 'still held', `expected "released" or "still held", got "${expected}"`);
  const node = theNode(this);
  const isReleased = (usage: { dfUsedKiB: number }) => usage.dfUsedKiB < mib * 1024 * 0.1;
  const u = (await poll(() => wd.nodeDiskUsage(node, dir), isReleased, { timeoutMs: seconds * 1000, intervalMs: 200 })).value!;
  this.watchdogDisk.push({ when: `container stopped, ${seconds} s later at most`, ...u });
  this.attachJson('disk-usage', this.watchdogDisk);
  if (wd.watchdogOf(node)) this.attachJson('watchdog-activity', (await wd.watchdogActivity(node)).filter((a) => a.kind === 'leftovers-released' || a.kind === 'namespace-freed' || a.kind === 'container-removed'));
  assert.equal(isReleased(u) ? 'released' : 'still held', expected, `df counts ${u.dfUsedKiB} KiB used in ${dir} ${seconds} s after the stop`);
});

// ------------------------------------------------------------- faults

// Restarts the watchdog daemon on the node (SIGTERM, SIGKILL after 3 s, then started again); later watchdog steps count from its new start
// time. Fails on a profile without a watchdog.
When('the watchdog on the node restarts', async function (this: LabWorld) {
  const { stoppedPid, status } = await wd.restartWatchdog(theNode(this));
  this.watchdogSince = new Date(status.startedAt);
  this.attachJson('watchdog-restart', { stoppedPid, newPid: status.pid, startedAt: status.startedAt, notify: status.notify });
});

// Checks, waiting up to 5 s after the restart: a new alert for that path in that workload's container.
Then('the restarted watchdog reports the overmount of {string} in {workload} again', async function (this: LabWorld, path: string, workload: Workload) {
  const since = this.watchdogSince;
  assert.ok(since, 'the watchdog was not restarted in this scenario');
  const node = nodeOf(this, workload.metadata.name);
  const status = await wd.watchdogStatus(node);
  const alerts = await wd.awaitWatchdogAlerts(node, {
    since,
    timeoutMs: 5000,
    predicate: (a) => a.mount?.mountPoint === path && a.pod === workload.metadata.name && a.watchdog.pid === status?.pid,
  });
  this.attachJson('watchdog-alerts-after-restart', alerts);
  assert.ok(alerts.length > 0, `the restarted watchdog (pid ${status?.pid}) did not report the overmount of ${path} within 5000 ms`);
});

// Starts that many pods of the workload one after another, named `<workload>-0`, `-1`, … (on a lab node as `the workload … is started` does;
// on kind over CRI on the node, with its kubelet stopped), then waits 3 s; the workload must exit by itself. Watchdog steps count from before the first.
When('{int} containers of {workload} start and exit while the watchdog scans', async function (this: LabWorld, count: number, workload: Workload) {
  this.watchdogSince = new Date();
  for (let i = 0; i < count; i++) {
    const pod = await startExitingWorkload(this, { ...workload, metadata: { ...workload.metadata, name: `${workload.metadata.name}-${i}` } });
    this.pods.set(`${workload.metadata.name}-${i}`, pod);
  }
  // Let the last ones exit and discovery run over them.
  await sleep(3000);
});

// Checks: the watchdog's pid is the one it reports, its activity since the restart has no error record, its error counter is 0, and it saw some of the scenario's short-lived containers.
Then('the watchdog logged no error and still runs', async function (this: LabWorld) {
  const node = theNode(this);
  const w = wd.requireWatchdog(node);
  const [status, activity, pid] = [await wd.watchdogStatus(node), await wd.watchdogActivity(node, this.watchdogSince), await wd.daemonPid(node.exec, w.config)];
  this.attachJson('watchdog-status', status);
  this.attachJson('watchdog-activity', activity);
  assert.equal(pid, status?.pid, `the watchdog (pid ${status?.pid}) is not running`);
  const errors = activity.filter((a) => a.kind === 'error');
  assert.equal(errors.length, 0, `the watchdog logged errors:\n${errors.map((e) => e.message).join('\n')}`);
  assert.equal(status?.errors, 0, `the watchdog counted ${status?.errors} errors`);
  // The race was run: the watchdog saw some of the short-lived containers come and go.
  const ids = new Set([...this.pods.values()].map((p) => p.containers[0]!.id));
  const seen = activity.filter((a) => (a.kind === 'container-added' || a.kind === 'container-removed') && ids.has(a.container ?? ''));
  assert.ok(seen.length > 0, `the watchdog saw none of the ${ids.size} short-lived containers`);
});
