/**
 * `integrity-lab lab up|down|status|shell`: drive a lab node by hand.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { listLabs, nodeLogsOf, teardownLab, detectVerityMode, nodeImageTag, STATE_ROOT } from '../node/index.ts';
import { localExec } from '../exec.ts';
import { getProfile, loadCatalog } from '../spec/loader.ts';
import { toStderr } from '../progress.ts';
import type { CliIo, Command } from './command.ts';
import { removeLabsOnInterrupt, startKindCluster, startLabNode } from '../start.ts';
import { CLUSTER_PREFIX, deleteKindCluster, kindLabIds, kindToolsOf, labClusters } from '../kind/cluster.ts';
import { describeError } from '../errors.ts';
import { reapKernelRules, sidecarName } from '../audit/node/sidecar.ts';
import { HOST_AUDIT_STATE, liveAuditIdsNow } from '../audit/node/component.ts';

const SCENARIOS = join(import.meta.dirname, '../../scenarios');

const usage = `usage:
  integrity-lab lab up [--profile vanilla|integrity]   start a lab node and leave it running
  integrity-lab lab up --substrate kind [--workers N]  start a kind cluster (vanilla profile) and print its kubeconfig path
  integrity-lab lab status [LAB_ID]                    list labs with their containers, or show one lab's node
  integrity-lab lab shell [LAB_ID] [-- CMD ARG…]       a shell in a lab node, or run CMD there and exit with its code
  integrity-lab lab down [LAB_ID | --all]              remove a lab (its container, volume, keys)`;

type LabContainer = Awaited<ReturnType<typeof listLabs>>[number];

/** A lab's containers, its node first; one entry per lab id. */
export function groupLabs(containers: readonly LabContainer[]): { labId: string; node?: LabContainer; containers: LabContainer[] }[] {
  const byId = new Map<string, LabContainer[]>();
  for (const c of containers) byId.set(c.labId, [...(byId.get(c.labId) ?? []), c]);
  return [...byId].map(([labId, list]) => ({
    labId,
    node: list.find((c) => c.role === 'node'),
    containers: [...list].sort((a, b) => Number(b.role === 'node') - Number(a.role === 'node') || a.name.localeCompare(b.name)),
  }));
}

/** `lab status` without an id: a header, then each lab with its containers indented under it. */
export function renderLabList(containers: readonly LabContainer[]): string {
  const labs = groupLabs(containers);
  if (labs.length === 0) return 'no labs';
  const rows: string[][] = [['LAB', 'PROFILE', 'STATE', 'CONTAINERS']];
  for (const lab of labs) {
    rows.push([lab.labId, lab.node?.profile || '(no node)', lab.node?.state ?? '-', String(lab.containers.length)]);
    for (const c of lab.containers) rows.push([`  ${c.role}`, '', c.state, c.name]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function resolveLab(id: string | undefined, io: Parameters<Command['run']>[1]): Promise<string | undefined> {
  const ids = groupLabs(await listLabs()).map((l) => l.labId);
  if (id) {
    if (ids.includes(id)) return id;
    io.err(`no lab "${id}"; labs: ${ids.join(', ') || '(none)'}`);
    return undefined;
  }
  if (ids.length === 1) return ids[0];
  io.err(ids.length === 0 ? 'no lab is running: `integrity-lab lab up`' : `several labs run; name one: ${ids.join(', ')}`);
  return undefined;
}

/** A lab id as LabNode makes them (base-36 time, '-', random hex): never a path that could leave STATE_ROOT. */
export const LAB_ID_SHAPE = /^[a-z0-9]+-[a-z0-9]+$/;

/**
 * Labs with no container that left their state directory or containerd
 * volume behind: a start interrupted between creating them and starting the
 * node container. Ids of another shape (kind labs, `.audit-host`) are never
 * taken for one.
 */
export async function interruptedStarts(): Promise<string[]> {
  const live = new Set((await listLabs()).map((l) => l.labId));
  const dirs = existsSync(STATE_ROOT) ? await readdir(STATE_ROOT) : [];
  const volumes = (await localExec.run(['docker', 'volume', 'ls', '-q', '--filter', 'name=integrity-lab-'])).stdout.toString()
    .split('\n')
    .map((v) => /^integrity-lab-(.+)-containerd$/.exec(v.trim())?.[1])
    .filter((id): id is string => id !== undefined);
  return [...new Set([...dirs, ...volumes])].filter((id) => LAB_ID_SHAPE.test(id) && !live.has(id)).sort();
}

/** `lab up`: starts a lab node or a kind cluster and leaves it running. */
async function labUp(values: { substrate?: string; profile?: string; workers?: string }, io: CliIo): Promise<number> {
  if (values.substrate === 'kind') {
    const catalog = await loadCatalog(SCENARIOS);
    const profile = getProfile(catalog, values.profile!);
    const cluster = await startKindCluster(profile, { workers: Number(values.workers), progress: toStderr, keep: true });
    io.out(cluster.kubeconfigPath);
    io.err(`kind cluster ${cluster.name} (lab ${cluster.labId}) is running: \`kubectl --kubeconfig ${cluster.kubeconfigPath} get nodes\`, then \`integrity-lab lab down ${cluster.labId}\``);
    for (const n of cluster.nodes) n.cri.close();
    return 0;
  }
  if (values.substrate !== 'node') {
    io.err(`unknown substrate "${values.substrate}": node or kind`);
    return 2;
  }
  const catalog = await loadCatalog(SCENARIOS);
  let node;
  try {
    node = await startLabNode(getProfile(catalog, values.profile!), { progress: toStderr, keep: true });
  } catch (err) {
    const logs = nodeLogsOf(err);
    if (logs) io.err(`the node's logs before it was removed:\n${logs.trimEnd()}`);
    throw err;
  }
  io.out(JSON.stringify(await node.status(), null, 2));
  io.err(`lab ${node.labId} is running: \`integrity-lab lab shell ${node.labId}\`, \`integrity-lab lab down ${node.labId}\``);
  node.cri.close();
  return 0;
}

/**
 * `docker exec` arguments for `lab shell`. A TTY only when both ends are one:
 * in a script or a pipe, `-t` would make docker refuse ("the input device is
 * not a TTY") or mangle the output with carriage returns.
 */
export function shellArgs(container: string, command: readonly string[], tty: boolean): string[] {
  return ['exec', '-i', ...(tty ? ['-t'] : []), container, ...(command.length ? command : ['bash'])];
}

export const command: Command = {
  name: 'lab',
  summary: 'start, inspect, enter and remove lab nodes by hand',
  usage,
  async run(argv, io) {
    const [sub, ...args] = argv;
    // Everything after `--` is the command for `lab shell`, never our options.
    const dash = args.indexOf('--');
    const rest = dash < 0 ? args : args.slice(0, dash);
    const inner = dash < 0 ? [] : args.slice(dash + 1);
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        profile: { type: 'string', default: 'vanilla' },
        all: { type: 'boolean', default: false },
        substrate: { type: 'string', default: 'node' },
        workers: { type: 'string', default: '0' },
      },
    });
    switch (sub) {
      case 'up': {
        // Ctrl-C during the start removes what it made so far; once started, the lab is kept.
        const keepFromNowOn = removeLabsOnInterrupt((message) => io.err(message));
        try {
          return await labUp(values, io);
        } finally {
          keepFromNowOn();
        }
      }
      case 'status': {
        const containers = await listLabs();
        if (!positionals[0]) {
          io.out(renderLabList(containers));
          return 0;
        }
        const id = await resolveLab(positionals[0], io);
        if (!id) return 1;
        const lab = groupLabs(containers).find((l) => l.labId === id)!;
        if (!lab.node) {
          io.err(`lab ${id} has no node container (only ${lab.containers.map((c) => c.name).join(', ')}); \`integrity-lab lab down ${id}\` removes the rest`);
          return 1;
        }
        const exec = { run: (a: readonly string[]) => localExec.run(['docker', 'exec', lab.node!.name, ...a]) };
        const version = (await exec.run(['containerd', '--version'])).stdout.toString().split(' ')[2];
        io.out(
          JSON.stringify(
            {
              labId: id,
              container: lab.node.name,
              profile: lab.node.profile,
              state: lab.node.state,
              containerdVersion: version,
              verity: await detectVerityMode(exec),
              containers: lab.containers.map((c) => ({ role: c.role, name: c.name, state: c.state })),
            },
            null,
            2,
          ),
        );
        return 0;
      }
      case 'shell': {
        const id = await resolveLab(positionals[0], io);
        if (!id) return 1;
        const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
        const r = spawnSync('docker', shellArgs(`integrity-lab-${id}`, inner, tty), { stdio: 'inherit' });
        if (r.error) {
          io.err(`cannot run docker: ${r.error.message}`);
          return 127;
        }
        // A command killed by a signal exits like a shell reports it: 128 + signal number.
        return r.status ?? 128 + (r.signal ? (constants.signals[r.signal] ?? 0) : 0);
      }
      case 'down': {
        // A kind lab is named by its lab id or by its cluster's name (`il-<lab id>`, as `kind get clusters` shows it).
        // --all takes every one: those with a state directory, and a cluster whose directory is gone (its start
        // was killed, or its directory was removed by hand), known by its node containers' kind label.
        const stripPrefix = (name: string) => name.replace(new RegExp(`^${CLUSTER_PREFIX}`), '');
        const kindIds = [...new Set([...(await kindLabIds()), ...(await labClusters()).map(stripPrefix)])];
        const kindLabs = values.all ? kindIds : [positionals[0], positionals[0] && stripPrefix(positionals[0])].filter((id) => id !== undefined && kindIds.includes(id)).slice(0, 1);
        let failed = false;
        for (const kindLab of kindLabs as string[]) {
          try {
            await deleteKindCluster(kindLab, (await kindToolsOf(kindLab)) ?? 'kind');
            io.err(`removed kind cluster of lab ${kindLab}`);
          } catch (err) {
            io.err(`kind cluster of lab ${kindLab}: ${describeError(err)}`);
            failed = true;
          }
        }
        if (kindLabs.length > 0 && !values.all) return failed ? 1 : 0;
        // No container, but a state directory (which may hold the lab's keys) or a volume: a start cut short.
        const interrupted = await interruptedStarts();
        const cutShort = values.all ? interrupted : interrupted.filter((id) => id === positionals[0]);
        for (const id of cutShort) {
          await teardownLab(id);
          io.err(`removed what the interrupted start of lab ${id} left (state directory, containerd volume)`);
        }
        if (cutShort.length > 0 && !values.all) return 0;
        const ids = values.all ? (await listLabs()).map((l) => l.labId) : [await resolveLab(positionals[0], io)];
        if (ids.some((id) => id === undefined)) return 1;
        for (const id of ids as string[]) {
          const audited = (await listLabs()).some((l) => l.labId === id && l.name === sidecarName(id));
          await teardownLab(id);
          io.err(`removed lab ${id}`);
          if (audited) await reapLabRules(id, io);
        }
        return failed ? 1 : 0;
      }
      default:
        io.err(usage);
        return 2;
    }
  },
};

/**
 * The kernel audit rules a lab's sidecar left (it died, or was killed, before
 * it could remove them): removed through a one-off container of the node
 * image, as `integrity-lab audit kernel --reap` does, and said.
 */
async function reapLabRules(labId: string, io: CliIo): Promise<void> {
  const report = await reapKernelRules(await nodeImageTag(), await liveAuditIdsNow(), { hostStateDir: HOST_AUDIT_STATE });
  if (!report.stale.includes(labId)) return;
  io.err(`the audit sidecar of lab ${labId} had not removed its kernel audit rules: removed ${report.removed.length}${report.disabled ? ', and kernel auditing turned back off' : ''}`);
}
