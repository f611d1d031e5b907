/**
 * Host setup before any test or scenario runs: a Docker engine and the lab
 * node image. On a fresh machine this installs docker.io, starts dockerd and
 * builds the image (about a minute); it used to happen silently inside the
 * first test that started a node. Here it is its own visible phase, and it
 * ends with one line that says what was installed and what keeps running.
 */
import { existsSync } from 'node:fs';
import { localExec } from '../exec.ts';
import { ensureKindNodeImage, type KindNodeImage } from '../kind/node-image.ts';
import { checkNodeRuntime, ensureDockerEngine, ensureNodeImage } from '../node/index.ts';
import { step, type ProgressListener } from '../progress.ts';
import type { LabProfile } from '../spec/schemas.ts';

export interface HostSetup {
  engine: Awaited<ReturnType<typeof ensureDockerEngine>>;
  image: Awaited<ReturnType<typeof ensureNodeImage>>;
  /** With the kind substrate: Kubernetes built from source and the kind node image. */
  kind?: KindNodeImage;
  /** Host packages this setup installed. */
  installed: string[];
}

/**
 * Host tools the tests cross-check against: veritysetup (Debian's
 * cryptsetup-bin) is the peer of lab/verity. Installed with apt as root,
 * like docker.io; elsewhere the tests that need it say they are skipped.
 */
async function ensureHostTools(progress: ProgressListener): Promise<string[]> {
  if (existsSync('/usr/sbin/veritysetup') || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return [];
  await step(progress, 'PREFLIGHT', "no veritysetup on the host: installing Debian's cryptsetup-bin with apt (the peer of lab/verity's tests)", async () => {
    const apt = ['apt-get', '-o', 'Acquire::Check-Valid-Until=false'];
    for (const argv of [[...apt, 'update'], [...apt, 'install', '-y', '--no-install-recommends', 'cryptsetup-bin']]) {
      const r = await localExec.run(argv, { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 600_000 });
      if (r.exitCode !== 0) throw new Error(`\`${argv.join(' ')}\` exited with ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    }
  });
  return ['cryptsetup-bin'];
}

/** One line for the end of the setup phase. */
export function describeSetup({ engine, image, kind, installed }: HostSetup): string {
  const docker = engine.startedByUs
    ? `Docker engine ${engine.serverVersion} started by this run (dockerd keeps running afterwards; stop it yourself if you want it gone)`
    : `Docker engine ${engine.serverVersion} was already running`;
  const node = image.built ? `node image ${image.tag} built (${image.method})` : `node image ${image.tag} reused from the cache`;
  const k8s = kind ? `; kind node image ${kind.tag} ${kind.built ? 'built' : 'reused'} (Kubernetes ${kind.binaries.version} ${kind.binaries.built ? 'built from source' : 'from the cache'})` : '';
  const apt = installed.length ? `; installed with apt: ${installed.join(', ')}` : '';
  return `${docker}; ${node}${k8s}${apt}`;
}

export async function prepareHost(progress: ProgressListener, options: { kindProfile?: LabProfile } = {}): Promise<HostSetup> {
  checkNodeRuntime();
  const started = performance.now();
  progress({ phase: 'PREFLIGHT', status: 'RUN', message: `host setup: Docker engine and lab node image${options.kindProfile ? ', Kubernetes and the kind node image' : ''}` });
  const installed = await ensureHostTools(progress);
  const engine = await ensureDockerEngine(progress);
  const image = await ensureNodeImage(progress);
  const kind = options.kindProfile ? await ensureKindNodeImage(options.kindProfile, progress) : undefined;
  const setup: HostSetup = { engine, image, installed, ...(kind ? { kind } : {}) };
  progress({ phase: 'PREFLIGHT', status: 'DONE', message: describeSetup(setup), elapsedMs: performance.now() - started });
  return setup;
}
