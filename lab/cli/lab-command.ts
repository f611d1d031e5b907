/**
 * `integrity-lab lab up|down|status|shell`: drive a lab node by hand.
 */
import { componentsFor } from '../components.ts';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LabNode, listLabs, teardownLab, detectVerityMode } from '../node/index.ts';
import { localExec } from '../exec.ts';
import { getProfile, loadCatalog } from '../spec/loader.ts';
import { toStderr } from '../progress.ts';
import type { Command } from './command.ts';
import { KindCluster, deleteKindCluster, kindLabIds, kindToolsOf } from '../kind/cluster.ts';

const SCENARIOS = join(import.meta.dirname, '../../scenarios');

const usage = `usage:
  integrity-lab lab up [--profile vanilla|integrity]   start a lab node and leave it running
  integrity-lab lab up --substrate kind [--workers N]  start a kind cluster (vanilla profile) and print its kubeconfig path
  integrity-lab lab status [LAB_ID]                    list labs, or show one lab's node
  integrity-lab lab shell [LAB_ID]                     open a shell in a lab node
  integrity-lab lab down [LAB_ID | --all]              remove a lab (its container, volume, keys)`;

async function resolveLab(id: string | undefined, io: Parameters<Command['run']>[1]): Promise<string | undefined> {
  const labs = await listLabs();
  if (id) {
    if (labs.some((l) => l.labId === id)) return id;
    io.err(`no lab "${id}"; labs: ${labs.map((l) => l.labId).join(', ') || '(none)'}`);
    return undefined;
  }
  if (labs.length === 1) return labs[0]!.labId;
  io.err(labs.length === 0 ? 'no lab is running: `integrity-lab lab up`' : `several labs run; name one: ${labs.map((l) => l.labId).join(', ')}`);
  return undefined;
}

export const command: Command = {
  name: 'lab',
  summary: 'start, inspect, enter and remove lab nodes by hand',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
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
        if (values.substrate === 'kind') {
          const catalog = await loadCatalog(SCENARIOS);
          const cluster = await new KindCluster(getProfile(catalog, values.profile!)).withWorkers(Number(values.workers)).withProgress(toStderr).withKeep(true).start();
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
        const node = await new LabNode(getProfile(catalog, values.profile!)).withComponents(componentsFor(getProfile(catalog, values.profile!))).withProgress(toStderr).withKeep().start();
        io.out(JSON.stringify(await node.status(), null, 2));
        io.err(`lab ${node.labId} is running: \`integrity-lab lab shell ${node.labId}\`, \`integrity-lab lab down ${node.labId}\``);
        node.cri.close();
        return 0;
      }
      case 'status': {
        const labs = await listLabs();
        if (!positionals[0]) {
          if (labs.length === 0) io.out('no labs');
          for (const l of labs) io.out(`${l.labId}\t${l.profile}\t${l.state}\t${l.name}`);
          return 0;
        }
        const id = await resolveLab(positionals[0], io);
        if (!id) return 1;
        const name = `integrity-lab-${id}`;
        const exec = { run: (a: readonly string[]) => localExec.run(['docker', 'exec', name, ...a]) };
        const version = (await exec.run(['containerd', '--version'])).stdout.toString().split(' ')[2];
        const lab = labs.find((l) => l.labId === id)!;
        io.out(JSON.stringify({ labId: id, container: name, profile: lab.profile, state: lab.state, containerdVersion: version, verity: await detectVerityMode(exec) }, null, 2));
        return 0;
      }
      case 'shell': {
        const id = await resolveLab(positionals[0], io);
        if (!id) return 1;
        const r = spawnSync('docker', ['exec', '-it', `integrity-lab-${id}`, 'bash'], { stdio: 'inherit' });
        return r.status ?? 1;
      }
      case 'down': {
        const kindLab = positionals[0] && (await kindLabIds()).includes(positionals[0]);
        if (kindLab) {
          await deleteKindCluster(positionals[0]!, (await kindToolsOf(positionals[0]!)) ?? 'kind');
          io.err(`removed kind cluster of lab ${positionals[0]}`);
          return 0;
        }
        const ids = values.all ? (await listLabs()).map((l) => l.labId) : [await resolveLab(positionals[0], io)];
        if (ids.some((id) => id === undefined)) return 1;
        for (const id of ids as string[]) {
          await teardownLab(id);
          io.err(`removed lab ${id}`);
        }
        return 0;
      }
      default:
        io.err(usage);
        return 2;
    }
  },
};
