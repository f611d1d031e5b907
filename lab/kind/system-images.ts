/**
 * The control-plane and pause images of the kind node, built locally from
 * the binaries of k8s-build.ts: nothing is pulled. Names and tags are the
 * ones kubeadm asks for (`kubeadm config images list`), so kubeadm and the
 * kubelet find them preloaded (pull policy IfNotPresent).
 *
 * Each image is one deterministic layer with the static binary in
 * /usr/local/bin; kubeadm's static pods name the command, found on PATH.
 * The pause image is a busybox shell that waits for a signal, as the lab
 * node's own sandbox image is.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assembleImage, BUSYBOX_APPLETS, type BuiltImage, type TarEntry } from '../images/index.ts';
import { ETCD_VERSION, KUBERNETES_VERSION, PAUSE_VERSION, type KubernetesBinaries } from './k8s-build.ts';

export const SYSTEM_REGISTRY = 'registry.k8s.io';

export interface SystemImage {
  /** Full name, as kubeadm and containerd name it. */
  name: string;
  image: BuiltImage;
}

const CONTROL_PLANE = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

function binaryLayer(name: string, content: Buffer): TarEntry[] {
  return [
    { type: 'file', path: `/usr/local/bin/${name}`, content, mode: 0o755 },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/var/run' },
  ];
}

export const PAUSE_ENTRYPOINT = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

/** Builds every system image. `busybox` is the static busybox of the node image. */
export async function buildSystemImages(binaries: KubernetesBinaries, busybox: Buffer): Promise<SystemImage[]> {
  const out: SystemImage[] = [];
  const add = (repository: string, tag: string, layer: TarEntry[], entrypoint?: string[]) => {
    const image = assembleImage({ repository, tag, layers: [layer], entrypoint });
    out.push({ name: `${SYSTEM_REGISTRY}/${repository}:${tag}`, image });
  };
  for (const name of CONTROL_PLANE) {
    add(name, KUBERNETES_VERSION, binaryLayer(name, await readFile(join(binaries.dir, name))));
  }
  add('etcd', `${ETCD_VERSION.replace(/^v/, '')}-0`, binaryLayer('etcd', await readFile(join(binaries.dir, 'etcd'))));
  add(
    'pause',
    PAUSE_VERSION,
    [
      { type: 'file', path: '/bin/busybox', content: busybox, mode: 0o755 },
      ...BUSYBOX_APPLETS.map((applet): TarEntry => ({ type: 'symlink', path: `/bin/${applet}`, target: 'busybox' })),
    ],
    PAUSE_ENTRYPOINT,
  );
  return out;
}
