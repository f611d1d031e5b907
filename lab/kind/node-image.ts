/**
 * The kind node image, built by the lab offline: `kind build node-image`
 * pulls its base and addon images, so the layout kind expects is made here
 * instead (sigs.k8s.io/kind pkg/build/nodeimage): systemd as init,
 * kubeadm/kubelet/kubectl in /usr/bin, `/kind/version`, containerd with
 * the lab's EROFS configuration, and the control-plane and pause images
 * preloaded so that nothing is ever pulled.
 *
 * Tagged `integrity-lab/kind-node:<hash>`, the hash covering the recipe
 * (lab/kind/node-image), the Kubernetes build and the system images'
 * recipe; an unchanged recipe reuses the image.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LabError } from '../errors.ts';
import { localExec } from '../exec.ts';
import { ociArchive } from '../images/oci-archive.ts';
import { findDebianMirror } from '../node/mirror.ts';
import { imageExists, listFiles } from '../node/image.ts';
import { renderContainerdConfig } from '../node/containerd-config.ts';
import { type ProgressListener, silent, step } from '../progress.ts';
import type { LabProfile } from '../spec/schemas.ts';
import { runStreamed } from '../streamed-exec.ts';
import type { KindErrorCode } from './errors.ts';
import { ensureKubernetesBinaries, KUBERNETES_VERSION, PAUSE_VERSION, type KubernetesBinaries } from './k8s-build.ts';
import { buildSystemImages, SYSTEM_REGISTRY } from './system-images.ts';

export const KIND_NODE_REPO = 'integrity-lab/kind-node';
export const KIND_BASE_REPO = 'integrity-lab/kind-base';
const RECIPE_DIR = join(import.meta.dirname, 'node-image');
export const SANDBOX_IMAGE = `${SYSTEM_REGISTRY}/pause:${PAUSE_VERSION}`;
/** On a host directory bind-mounted into each node (kind extraMounts), so the harness reaches CRI; symlinked at /run/containerd. */
export const KIND_CONTAINERD_SOCKET_DIR = '/run/integrity-lab';
export const KIND_CONTAINERD_SOCKET = `${KIND_CONTAINERD_SOCKET_DIR}/containerd.sock`;
/** The lab node's registry configuration, shared by both substrates. */
const REGISTRY_CONFIG = join(import.meta.dirname, '../node/recipe/rootfs/etc/docker/registry/config.yml');

/**
 * The containerd configuration baked into the image: the lab's EROFS setup
 * (the vanilla profile's containerd section; a lab's profile is applied per
 * cluster), at the socket the kubelet expects, runc under systemd cgroups.
 */
export function kindContainerdConfig(profile: LabProfile, extras: Parameters<typeof renderContainerdConfig>[1] = {}): string {
  return renderContainerdConfig(profile, extras, { address: KIND_CONTAINERD_SOCKET, sandboxImage: SANDBOX_IMAGE, systemdCgroup: true });
}

async function hashFiles(hash: ReturnType<typeof createHash>, paths: string[]): Promise<void> {
  for (const path of paths.sort()) {
    const mode = (await stat(path)).mode & 0o111 ? 'x' : '-';
    hash.update(`${relative(RECIPE_DIR, path)}\0${mode}\0`);
    hash.update(await readFile(path));
    hash.update('\0');
  }
}

/** The bootstrapped base: only the script and package lists determine it. */
const BASE_INPUTS = ['bootstrap.sh', 'packages-base.txt', 'packages-sid.txt'];

export async function kindBaseImageHash(): Promise<string> {
  const hash = createHash('sha256');
  await hashFiles(hash, BASE_INPUTS.map((f) => join(RECIPE_DIR, f)));
  return hash.digest('hex');
}

/** sha256 over the whole recipe, the Kubernetes build and the baked containerd configuration. */
export async function kindNodeImageHash(binaries: Pick<KubernetesBinaries, 'hash'>, containerdConfig: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFiles(hash, [...(await listFiles(RECIPE_DIR)), REGISTRY_CONFIG]);
  for (const f of ['system-images.ts', 'node-image.ts']) hash.update(await readFile(join(import.meta.dirname, f)));
  hash.update(`\0k8s:${binaries.hash}\0${containerdConfig}`);
  return hash.digest('hex');
}

export interface KindNodeImage {
  tag: string;
  built: boolean;
  binaries: KubernetesBinaries;
}


/** Stage 1: Debian trixie + sid packages, bootstrapped from the host's mirror and imported. */
export async function ensureKindBaseImage(progress: ProgressListener = silent): Promise<string> {
  const tag = `${KIND_BASE_REPO}:${(await kindBaseImageHash()).slice(0, 16)}`;
  if (await imageExists(localExec, tag)) return tag;
  await step(progress, 'BUILD', `kind node base ${tag} (Debian trixie, containerd/runc/EROFS from sid)`, async () => {
    const work = await mkdtemp('/var/tmp/integrity-lab-kind-rootfs-');
    const rootfs = join(work, 'rootfs');
    try {
      const mirror = await findDebianMirror();
      progress({ phase: 'BUILD', status: 'INFO', message: `bootstrapping from the host's Debian mirror into ${rootfs} (several minutes)` });
      await runStreamed<KindErrorCode>(['sh', join(RECIPE_DIR, 'bootstrap.sh'), mirror, rootfs], {
        progress, phase: 'BUILD', label: 'kind node rootfs', errorCode: 'KIND_IMAGE_FAILED', everyMs: 10_000,
      });
      await importRootfs(rootfs, tag, progress);
    } finally {
      for (const m of ['dev/pts', 'dev', 'proc', 'sys']) await localExec.run(['umount', '-l', join(rootfs, m)]);
      await localExec.run(['rm', '-rf', '--one-file-system', work]);
    }
  });
  return tag;
}

/** `docker import` of a rootfs directory. */
export async function importRootfs(rootfs: string, tag: string, progress: ProgressListener): Promise<void> {
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await runStreamed<KindErrorCode>(['docker', 'import', '--message', 'integrity-lab kind node base', '-', tag], {
    progress, phase: 'BUILD', label: 'docker import', errorCode: 'KIND_IMAGE_FAILED', input: tar.stdout,
  });
}

/** Returns the kind node image for the current recipe, building Kubernetes and the image if needed. */
export async function ensureKindNodeImage(profile: LabProfile, progress: ProgressListener = silent): Promise<KindNodeImage> {
  const binaries = await ensureKubernetesBinaries(progress);
  const containerdConfig = kindContainerdConfig(profile);
  const tag = `${KIND_NODE_REPO}:${(await kindNodeImageHash(binaries, containerdConfig)).slice(0, 16)}`;
  if (await imageExists(localExec, tag)) {
    progress({ phase: 'BUILD', status: 'INFO', message: `kind node image ${tag} is cached` });
    return { tag, built: false, binaries };
  }
  const base = await ensureKindBaseImage(progress);
  await step(progress, 'BUILD', `kind node image ${tag}`, async () => {
    const context = await mkdtemp('/var/tmp/integrity-lab-kind-image-');
    try {
      await cp(RECIPE_DIR, context, { recursive: true });
      const rootfs = join(context, 'rootfs');
      await mkdir(join(rootfs, 'usr/bin'), { recursive: true });
      for (const bin of ['kubeadm', 'kubelet']) {
        await copyFile(join(binaries.dir, bin), join(rootfs, 'usr/bin', bin));
        await chmod(join(rootfs, 'usr/bin', bin), 0o755);
      }
      await mkdir(join(rootfs, 'kind/images'), { recursive: true });
      // kind reads the node's Kubernetes version from here (nodeutils.KubeVersion).
      await writeFile(join(rootfs, 'kind/version'), `${KUBERNETES_VERSION}\n`);
      await mkdir(join(rootfs, 'etc/docker/registry'), { recursive: true });
      await copyFile(REGISTRY_CONFIG, join(rootfs, 'etc/docker/registry/config.yml'));
      await mkdir(join(rootfs, 'etc/containerd'), { recursive: true });
      await writeFile(join(rootfs, 'etc/containerd/config.toml'), containerdConfig);
      const busybox = await readBusybox(base);
      for (const { name, image } of await buildSystemImages(binaries, busybox)) {
        await writeFile(join(rootfs, 'kind/images', `${image.repository.replace(/\//g, '_')}.tar`), ociArchive([{ image, name }]));
      }
      await runStreamed<KindErrorCode>(['docker', 'build', '--build-arg', `BASE=${base}`, '-t', tag, context], {
        progress, phase: 'BUILD', label: 'docker build', errorCode: 'KIND_IMAGE_FAILED',
      });
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  });
  return { tag, built: true, binaries };
}

/** The static busybox of the base image, for the pause image. */
export async function readBusybox(base: string): Promise<Buffer> {
  const r = await localExec.run(['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'cat', base, '/usr/bin/busybox'], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new LabError<KindErrorCode>('KIND_IMAGE_FAILED', `cannot read /usr/bin/busybox from ${base}: ${r.stderr.trim()}`);
  return r.stdout;
}
