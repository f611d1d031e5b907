/**
 * Where the audit daemon places short-lived processes of a container: N
 * reads of /etc/shadow by `cat`, each started by CRI exec (as `kubectl
 * exec` does) in a workload on the integrity profile, and the container
 * each "Read of a sensitive file" alert names. Every alert should name the
 * workload's container; one that says `host` is a misplaced process (the
 * flaky attribution of docs/benchmarks.md, "Conformance runs").
 *
 *   node --import tsx bench/audit-placement.ts [--reads 200]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { componentsFor } from '../lab/components.ts';
import { LabNode } from '../lab/node/index.ts';
import { getProfile, getWorkload, loadCatalog } from '../lab/spec/loader.ts';
import { auditAlerts, awaitAuditWatching } from '../lab/audit/index.ts';
import { poll } from '../lab/wait.ts';

const RULE = 'Read of a sensitive file';
const { values } = parseArgs({ options: { reads: { type: 'string', default: '200' } } });
const reads = Number(values.reads);
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));
const profile = getProfile(catalog, 'integrity');
const node = await new LabNode(profile).withComponents(componentsFor(profile)).start();
try {
  const pod = await node.startWorkload(getWorkload(catalog, 'legacy-app'));
  const id = pod.containers[0]!.id;
  await awaitAuditWatching(node, id);
  const since = new Date();
  for (let i = 0; i < reads; i++) await node.cri.execSync(id, ['cat', '/etc/shadow']);
  // Until every read has its alert, or 20 s.
  const ofRule = async () => (await auditAlerts(node, since)).filter((a) => a.rule === RULE);
  const alerts = (await poll(ofRule, (a) => a.length >= reads, { timeoutMs: 20_000, intervalMs: 200 })).value ?? [];
  const byContainer: Record<string, number> = {};
  for (const a of alerts) {
    const named = String(a.output_fields['container.id']);
    byContainer[named] = (byContainer[named] ?? 0) + 1;
  }
  const placed = byContainer[id.slice(0, 12)] ?? 0;
  console.log(JSON.stringify({ reads, alerts: alerts.length, inTheContainer: placed, elsewhere: alerts.length - placed, byContainer }));
} finally {
  await node.stop({ force: true });
}
