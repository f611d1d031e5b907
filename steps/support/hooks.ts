/**
 * Lifecycle: preflight and the node image once per run, a fresh lab node per
 * scenario (attacks change the node), evidence and teardown after each
 * scenario, and a check that every attack's outcome was asserted.
 */
import 'allure-cucumberjs';
import * as allure from 'allure-js-commons';
import { After, AfterAll, Before, BeforeAll, Status, setDefaultTimeout, setParallelCanAssign } from '@cucumber/cucumber';
import { join } from 'node:path';
import { activeNodes, checkNodeRuntime, ensureDockerEngine, ensureNodeImage } from '../../lab/node/index.ts';
import { CATALOG_ONLY_ENV, labsBeingRemoved, removeLabsOnInterrupt } from '../../lab/start.ts';
import { activeClusters } from './substrate.ts';
import { loadCatalog } from '../../lab/spec/loader.ts';
import { toStderr } from '../../lab/progress.ts';
import { describeError } from '../../lab/errors.ts';
import type { LabWorld } from './world.ts';
import { PROJECT_ROOT, REPORTS_DIR, labState } from './state.ts';
import { mkdirSync, writeFileSync } from 'node:fs';

/** The Allure "Environment" panel: what the lab ran on, from the last node status seen. */
function writeAllureEnvironment(): void {
  const status = labState.lastStatus();
  if (!status) return;
  const lines = [
    `containerd=${status.containerdVersion}`,
    `snapshotter=${status.snapshotter}`,
    `node.privileges=${status.privilege}`,
    `dm-verity.mode=${status.verity.mode}`,
    `dm-verity.reason=${status.verity.reason}`,
    `node.image=${status.image ?? ''}`,
    `profiles.run=${[...labState.profilesSeen()].join(', ')}`,
  ];
  const dir = `${REPORTS_DIR}/allure-results`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/environment.properties`, lines.join('\n') + '\n');
}

setDefaultTimeout(180_000);

// Kernel auditing and its rule lists are host-wide: a scenario tagged
// @host-audit switches them off or adds rules that silence every lab on the
// host, so it runs alone (with --parallel, once no other scenario runs, and
// none starts beside it).
const HOST_WIDE = '@host-audit';
const hostWide = (pickle: { tags: readonly { name: string }[] }) => pickle.tags.some((t) => t.name === HOST_WIDE);
setParallelCanAssign((pickle, running) => (hostWide(pickle) ? running.length === 0 : !running.some(hostWide)));

BeforeAll({ timeout: 20 * 60_000 }, async function () {
  checkNodeRuntime();
  labState.setCatalog(await loadCatalog(join(PROJECT_ROOT, 'scenarios')));
  await ensureDockerEngine(toStderr);
  await ensureNodeImage(toStderr);
});

// Tags such as @epic:node or @severity:critical become Allure labels.
Before(async function (this: LabWorld, { pickle }) {
  // After Ctrl-C the labs are being removed and no new one starts: the scenarios left are skipped, not
  // failed, once the removal has ended (a worker thread that runs out of scenarios would be ended with it).
  const removal = labsBeingRemoved();
  if (removal) return removal.then(() => 'skipped' as const);
  this.scenarioName = pickle.name;
  for (const { name } of pickle.tags) {
    const [key, value] = name.slice(1).split(':');
    if (!value) continue;
    if (key === 'epic') await allure.epic(value);
    if (key === 'story') await allure.story(value);
    if (key === 'severity') await allure.severity(value);
  }
});

After(async function (this: LabWorld, { result, pickle }) {
  const node = this.node;
  if (node) {
    if (result?.status !== Status.PASSED) {
      // On failure, the CRI conversation and the node's logs are the evidence.
      this.attachJson('cri-calls', node.cri.calls.slice(-40));
      const logs = await node.exec.run(['sh', '-c', 'tail -n 60 /var/log/integrity-lab/containerd.log']).catch(() => undefined);
      if (logs) this.attachText('containerd-log', logs.stdout.toString());
    }
    // `npm run conformance -- --keep-failed` keeps the node of a failed scenario for `integrity-lab lab shell`.
    const keepFailed = process.env.INTEGRITY_LAB_KEEP_FAILED === '1' && result?.status !== Status.PASSED;
    await node.stop(keepFailed ? { keep: true } : {});
    if (keepFailed) labState.noteKeptLab(node.labId, pickle.name);
    this.node = undefined;
  }
  if (this.outcomePending && result?.status === Status.PASSED) {
    throw new Error(
      `scenario "${pickle.name}" carried out attack "${this.lastAttack?.attack.metadata.name}" but never asserted its outcome; ` +
        'add `Then the attack has the outcome expected on this profile`',
    );
  }
});

AfterAll({ timeout: 6 * 60_000 }, async function () {
  // Interrupted: this thread ends only when its labs are gone (a kind cluster's delete takes a minute or more).
  await labsBeingRemoved();
  writeAllureEnvironment();
  for (const node of [...activeNodes]) await node.stop({ force: true }).catch((e) => toStderr({ phase: 'CLEANUP', status: 'ERROR', message: describeError(e) }));
});

// Ctrl-C: remove every lab this process started (lab nodes, kind clusters,
// a cluster whose `kind create` is still running), then exit.
if (process.env[CATALOG_ONLY_ENV] !== '1') {
  removeLabsOnInterrupt((message, failed) => toStderr({ phase: 'CLEANUP', status: failed ? 'ERROR' : 'RUN', message }), () => activeClusters);
}
