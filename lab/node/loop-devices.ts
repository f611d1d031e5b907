/**
 * Leaked loop devices of lab layer files (both substrates' teardown).
 */
import { localExec, type Exec } from '../exec.ts';

/**
 * Loop devices are the host kernel's, not the node container's. The start
 * gate attaches one per verified layer and detaches it (autoclear) once the
 * layer is mounted; a node deleted while a gate decision was in flight
 * leaves the devices it had attached, holding deleted layer files. Those are
 * recognisable: not autoclear, the backing file a lab layer file that no
 * longer exists. They are detached here; a device in use would only get
 * autoclear set, so another lab's is never taken from it.
 */
export async function releaseLeakedLoopDevices(exec: Exec = localExec): Promise<{ released: string[]; failed: string[] }> {
  const r = await exec.run(['losetup', '--list', '--noheadings', '--raw', '-O', 'NAME,AUTOCLEAR,BACK-FILE']);
  const leaked = r.stdout.toString().split('\n').map((l) => l.split(' ')).filter(([name, autoclear, file = '']) =>
    name?.startsWith('/dev/loop') && autoclear === '0' && file.endsWith('\\x20(deleted)') && /io\.containerd\.snapshotter\.v1\.erofs\/snapshots\/\d+\/layer\.erofs|integrity-lab\/standard-layer\.erofs/.test(file),
  ).map(([name]) => name!);
  const failed: string[] = [];
  for (const device of leaked) if ((await exec.run(['losetup', '--detach', device])).exitCode !== 0) failed.push(device);
  return { released: leaked.filter((d) => !failed.includes(d)), failed };
}

