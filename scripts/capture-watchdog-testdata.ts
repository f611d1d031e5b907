/**
 * Captures the watchdog's test samples (lab/watchdog/testdata/<set>/) from a
 * real lab node: the node's mountinfo, each container's config.json, id and
 * mountinfo, the gate configuration, and the node's block devices (major:minor
 * → /dev name, from /sys/dev/block). Run it when the node layout changes:
 *
 *   node --import tsx scripts/capture-watchdog-testdata.ts integrity system-agent app
 *   node --import tsx scripts/capture-watchdog-testdata.ts integrity-volumes volume-agent
 *
 * Every captured protected image is signed in the v2 format first.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { componentsFor } from '../lab/components.ts';
import { LabNode } from '../lab/node/index.ts';
import { toStderr } from '../lab/progress.ts';
import { getProfile, getWorkload, loadCatalog } from '../lab/spec/loader.ts';
import * as trust from '../lab/trust/index.ts';

const [set, ...workloads] = process.argv.slice(2);
if (!set || workloads.length === 0) throw new Error('usage: capture-watchdog-testdata.ts <set> <workload>...');
const root = join(import.meta.dirname, '..');
const catalog = await loadCatalog(join(root, 'scenarios'), root);
const profile = getProfile(catalog, set.startsWith('integrity') ? 'integrity' : 'vanilla');
const out = join(root, 'lab/watchdog/testdata', set);
await mkdir(out, { recursive: true });
const node = await new LabNode(profile).withComponents(componentsFor(profile)).withProgress(toStderr).start();
try {
  const text = async (argv: string[]) => (await node.run(argv)).stdout.toString();
  for (const name of workloads) {
    const w = getWorkload(catalog, name);
    await node.pushImage(w.spec.image);
    await trust.signImage(node, w.spec.image.repository, w.spec.image.tag, { format: 'v2' });
    const pod = await node.startWorkload(w, { pushImage: false });
    const ids: [string, string][] = [[name, pod.containers[0]!.id], [`${name}-sandbox`, pod.sandboxId]];
    for (const [file, id] of ids) {
      const bundle = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id}`;
      const pid = (await text(['cat', `${bundle}/init.pid`])).trim();
      await writeFile(join(out, `${file}.id`), `${id}\n`);
      await writeFile(join(out, `${file}.config.json`), await text(['cat', `${bundle}/config.json`]));
      await writeFile(join(out, `${file}.mountinfo`), await text(['cat', `/proc/${pid}/mountinfo`]));
    }
  }
  await writeFile(join(out, 'node.mountinfo'), await text(['cat', '/proc/self/mountinfo']));
  await writeFile(join(out, 'block-devices'), await text(['sh', '-c', 'for d in /sys/dev/block/*; do n=$(sed -n "s/^DEVNAME=//p" "$d/uevent"); echo "${d##*/} /dev/$n"; done']));
  if (set.startsWith('integrity')) await writeFile(join(out, 'gates.json'), await text(['cat', '/etc/integrity-lab/gates.json']));
} finally {
  await node.stop();
}
