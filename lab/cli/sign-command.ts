/**
 * `integrity-lab sign`, with `--lab LAB_ID` to sign against a running lab:
 * mkfs.erofs runs inside that lab's node (the same build containerd's erofs
 * differ makes), the work directory is the lab's shared directory, and the
 * registry and PKI default to the lab's own. Without --lab it is the
 * signer's command unchanged (mkfs.erofs ≥ 1.8 must then be on this host).
 */
import { join } from 'node:path';
import { localExec, type Exec } from '../exec.ts';
import { STATE_ROOT } from '../node/index.ts';
import { createSignCommand, command as signerCommand } from '../signer/index.ts';
import type { Command } from './command.ts';

function takeOption(argv: string[], name: string): { value?: string; rest: string[] } {
  const i = argv.indexOf(name);
  if (i < 0) return { rest: argv };
  return { value: argv[i + 1], rest: [...argv.slice(0, i), ...argv.slice(i + 2)] };
}

export const command: Command = {
  ...signerCommand,
  usage: `${signerCommand.usage}

  --lab LAB_ID   sign against a running lab: mkfs.erofs runs in its node, and
                 --pki, --registry and --work-dir default to the lab's own`,
  async run(argv, io) {
    const { value: labId, rest } = takeOption(argv, '--lab');
    if (!labId) return signerCommand.run(argv, io);
    const name = `integrity-lab-${labId}`;
    const ip = (await localExec.run(['docker', 'inspect', '--format', '{{.NetworkSettings.IPAddress}}', name])).stdout.toString().trim();
    if (!ip) {
      io.err(`no running lab "${labId}" (container ${name}); see \`integrity-lab lab status\``);
      return 1;
    }
    const exec: Exec = { run: (a, o) => localExec.run(['docker', 'exec', '-i', name, ...a], o) };
    const stateDir = join(STATE_ROOT, labId);
    const defaults: string[] = [];
    const has = (flag: string) => rest.includes(flag);
    if (!has('--pki') && rest[0] !== 'pki') defaults.push('--pki', join(stateDir, 'pki'));
    if (!has('--registry') && rest[0] !== 'pki') defaults.push('--registry', `http://${ip}:5000`);
    if (!has('--work-dir') && rest[0] !== 'pki') defaults.push('--work-dir', join(stateDir, 'shared'));
    const [first, ...others] = rest;
    const args = first === 'verify' ? ['verify', ...defaults, ...others] : [...defaults, ...rest];
    return createSignCommand({ exec }).run(args, io);
  },
};
