/**
 * Kubernetes and etcd, built from the Go module proxy (no reachable registry
 * ships kubelet, kubeadm or kube-apiserver; FACTS.md "Kubernetes and kind
 * here").
 *
 * Two wrapper modules pin every module with a committed go.sum:
 * - lab/kind/k8s: requires k8s.io/kubernetes and replaces each staging
 *   module (which the kubernetes module zip leaves out) with its published
 *   v0.<minor>.<patch>;
 * - lab/kind/etcd: requires go.etcd.io/etcd/server/v3 at the version the
 *   pinned kubeadm expects (`kubeadm config images list`).
 *
 * The binaries are cached outside the repository, keyed by a hash of
 * everything that determines them: both go.mod/go.sum pairs, the Go
 * toolchain version, and the build recipe below. A second run is a hash and
 * a stat.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.ts';
import { CACHE_ROOT } from '../host-cache.ts';
import { localExec } from '../exec.ts';
import { type ProgressListener, silent } from '../progress.ts';
import { runStreamed } from '../streamed-exec.ts';
import type { KindErrorCode } from './errors.ts';

/** The pinned release. 1.36 because Debian's kubectl is 1.36 (skew policy: kubectl within one minor). */
export const KUBERNETES_VERSION = 'v1.36.3';
/** The etcd kubeadm v1.36.3 asks for (`kubeadm config images list`: etcd 3.6.8-0). */
export const ETCD_VERSION = 'v3.6.8';
/** The pause image tag kubeadm v1.36.3 asks for. */
export const PAUSE_VERSION = '3.10.2';

export { CACHE_ROOT };
const KIND_DIR = import.meta.dirname;

interface BinaryRecipe {
  name: string;
  /** The wrapper module it is built in. */
  module: 'k8s' | 'etcd';
  pkg: string;
  /** Upstream builds kubelet with cgo and the rest static (hack/lib/golang.sh). */
  cgo: boolean;
}

export const BINARIES: readonly BinaryRecipe[] = [
  { name: 'kubeadm', module: 'k8s', pkg: 'k8s.io/kubernetes/cmd/kubeadm', cgo: false },
  { name: 'kubelet', module: 'k8s', pkg: 'k8s.io/kubernetes/cmd/kubelet', cgo: true },
  { name: 'kube-apiserver', module: 'k8s', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', cgo: false },
  { name: 'kube-controller-manager', module: 'k8s', pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', cgo: false },
  { name: 'kube-scheduler', module: 'k8s', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', cgo: false },
  { name: 'etcd', module: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', cgo: false },
];

/**
 * Version stamps: kubeadm compares its own version with the control plane's
 * and refuses an unstamped `v0.0.0-master` (cmd/kubeadm constants).
 */
export function versionLdflags(version = KUBERNETES_VERSION): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const stamps = {
    gitVersion: version,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: 'clean',
    // Fixed, so the output depends only on the inputs that are hashed.
    buildDate: '1970-01-01T00:00:00Z',
  };
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    for (const [k, v] of Object.entries(stamps)) flags.push(`-X ${pkg}.${k}=${v}`);
  }
  return flags.join(' ');
}

export interface KubernetesBinaries {
  /** Directory holding one executable per entry of BINARIES. */
  dir: string;
  version: string;
  etcdVersion: string;
  /** The cache key. */
  hash: string;
  /** True when this call built them. */
  built: boolean;
}

async function goVersion(): Promise<string> {
  const r = await localExec.run(['go', 'env', 'GOVERSION', 'GOARCH'], { timeoutMs: 30_000 }).catch((err: unknown) => {
    throw new LabError<KindErrorCode>(
      'K8S_TOOLCHAIN',
      `cannot build Kubernetes: the Go toolchain is not installed or not on PATH (${(err as Error).message}). Install Go 1.26 or later (Debian: golang-go from a suite that has it).`,
      { cause: err },
    );
  });
  if (r.exitCode !== 0) throw new LabError<KindErrorCode>('K8S_TOOLCHAIN', `\`go env\` failed: ${r.stderr.trim()}`);
  return r.stdout.toString().trim().replace(/\s+/g, ' ');
}

/** The cache key: sha256 over the recipe, both wrapper modules and the toolchain. */
export async function kubernetesBuildHash(toolchain?: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ KUBERNETES_VERSION, ETCD_VERSION, BINARIES, ldflags: versionLdflags(), toolchain: toolchain ?? (await goVersion()) }));
  for (const mod of ['k8s', 'etcd']) {
    for (const f of ['go.mod', 'go.sum']) {
      hash.update(`\0${mod}/${f}\0`);
      hash.update(await readFile(join(KIND_DIR, mod, f)));
    }
  }
  return hash.digest('hex');
}

export function kubernetesCacheDir(hash: string): string {
  return join(CACHE_ROOT, 'k8s', hash.slice(0, 16));
}

/** Returns the built binaries, building what the cache lacks. */
export async function ensureKubernetesBinaries(progress: ProgressListener = silent): Promise<KubernetesBinaries> {
  const toolchain = await goVersion();
  const hash = await kubernetesBuildHash(toolchain);
  const dir = kubernetesCacheDir(hash);
  const result = { dir, version: KUBERNETES_VERSION, etcdVersion: ETCD_VERSION, hash };
  // build.json is written last: its presence means every binary is complete.
  if (existsSync(join(dir, 'build.json'))) {
    progress({ phase: 'BUILD', status: 'INFO', message: `Kubernetes ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION} binaries are cached in ${dir}` });
    return { ...result, built: false };
  }
  const started = performance.now();
  progress({ phase: 'BUILD', status: 'RUN', message: `Kubernetes ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION} from the Go module proxy (${toolchain}; a cold build takes tens of minutes on 2 cores)` });
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  // -mod=readonly: the committed go.sum is the pin; a mismatch is an error, never a silent update.
  const env = { ...process.env, GOFLAGS: '-mod=readonly -buildvcs=false', GOTOOLCHAIN: 'local' };
  try {
    for (const mod of ['k8s', 'etcd'] as const) {
      const t = performance.now();
      progress({ phase: 'BUILD', status: 'RUN', message: `go mod download (${mod} wrapper module)` });
      await runStreamed<KindErrorCode>(['go', 'mod', 'download', '-x'], {
        progress, phase: 'BUILD', label: `go mod download (lab/kind/${mod})`, errorCode: 'K8S_TOOLCHAIN', cwd: join(KIND_DIR, mod), env, everyMs: 10_000,
      }).catch((err: unknown) => {
        throw new LabError<KindErrorCode>('K8S_TOOLCHAIN', `${(err as Error).message}\nIs the Go module proxy reachable? (go env GOPROXY: ${process.env.GOPROXY ?? 'the default'})`, { cause: err });
      });
      progress({ phase: 'BUILD', status: 'OK', message: `go mod download (${mod} wrapper module)`, elapsedMs: performance.now() - t });
    }
    for (const [i, b] of BINARIES.entries()) {
      const t = performance.now();
      const label = `go build ${b.name} (${i + 1}/${BINARIES.length})`;
      progress({ phase: 'BUILD', status: 'RUN', message: label });
      const ldflags = b.module === 'k8s' ? versionLdflags() : '-s -w';
      await runStreamed<KindErrorCode>(['go', 'build', '-trimpath', '-ldflags', ldflags, '-o', join(partial, b.name), b.pkg], {
        progress, phase: 'BUILD', label, errorCode: 'K8S_BUILD_FAILED', cwd: join(KIND_DIR, b.module),
        env: { ...env, CGO_ENABLED: b.cgo ? '1' : '0' }, everyMs: 30_000, tailLines: 25,
      });
      progress({ phase: 'BUILD', status: 'OK', message: `${label}, total ${((performance.now() - started) / 60_000).toFixed(1)} min`, elapsedMs: performance.now() - t });
    }
    await writeFile(join(partial, 'build.json'), JSON.stringify({ ...result, toolchain, builtAt: new Date().toISOString(), seconds: Math.round((performance.now() - started) / 1000) }, null, 2) + '\n');
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    progress({ phase: 'BUILD', status: 'ERROR', message: `Kubernetes ${KUBERNETES_VERSION} binaries`, elapsedMs: performance.now() - started });
    throw err;
  }
  progress({ phase: 'BUILD', status: 'OK', message: `Kubernetes ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION} binaries in ${dir}`, elapsedMs: performance.now() - started });
  return { ...result, built: true };
}
