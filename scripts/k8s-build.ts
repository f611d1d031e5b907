/**
 * `npm run k8s:build`: builds (or finds cached) the pinned Kubernetes and
 * etcd binaries for the kind substrate. Whatever needs them calls
 * ensureKubernetesBinaries itself; this is the same step on its own.
 */
import { describeError } from '../lab/errors.ts';
import { ensureKubernetesBinaries } from '../lab/kind/k8s-build.ts';
import { toStderr } from '../lab/progress.ts';

try {
  const b = await ensureKubernetesBinaries(toStderr);
  process.stdout.write(`${b.dir}\n`);
} catch (err) {
  process.stderr.write(`k8s:build: ${describeError(err)}\n`);
  process.exitCode = 1;
}
