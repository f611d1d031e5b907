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
import { REGISTRY_HOST } from '../node/containerd-config.ts';
import { ETCD_VERSION, KUBERNETES_VERSION, PAUSE_VERSION, type KubernetesBinaries } from './k8s-build.ts';

/**
 * Where the system images live, as the lab node's system images do: the
 * node's own registry, under the repository prefix the integrity profile
 * protects (`protectedImages`). kubeadm is told so (`imageRepository`).
 */
export const SYSTEM_REGISTRY = `${REGISTRY_HOST}/system`;

/**
 * Mount points of the volumes kubeadm gives the control-plane static pods
 * (hostPath directories and files). A protected container's root file
 * system is read-only with no upperdir, so runc cannot create a missing
 * mount point: the image carries them, as a hardened image must.
 */
const MOUNT_POINT_DIRS = ['/etc/kubernetes/pki/etcd', '/etc/ssl/certs', '/etc/ca-certificates', '/usr/share/ca-certificates', '/usr/local/share/ca-certificates', '/usr/libexec/kubernetes/kubelet-plugins/volume/exec', '/var/lib/etcd', '/var/log/kubernetes/audit'];
const CONTROL_PLANE_MOUNT_POINTS: TarEntry[] = [
  // Each directory with its parents, parents first.
  ...[...new Set(MOUNT_POINT_DIRS.flatMap((d) => d.split('/').slice(1).map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}`)))].sort().map((path): TarEntry => ({ type: 'dir', path })),
  ...['/etc/kubernetes/controller-manager.conf', '/etc/kubernetes/scheduler.conf', '/etc/kubernetes/audit-policy.yaml'].map((path): TarEntry => ({ type: 'file', path, content: Buffer.alloc(0), mode: 0o644 })),
];

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
    ...CONTROL_PLANE_MOUNT_POINTS,
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
