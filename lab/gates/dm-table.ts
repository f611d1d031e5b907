/**
 * The kernel's word on a dm-verity device (kernel dm-verity mode).
 *
 * veritysetup opens the verity device, but it is a dynamic program with
 * eight libraries on the node: root who replaced any of them could make it
 * map something other than a verity target over the verified loop device
 * (a linear target over a forged file, say) while it exits 0. So the gate
 * reads the device's table back from the kernel, through its own pinned
 * static helper (`layer-bind dm-table NAME`, DM_TABLE_STATUS), and checks
 * it against what it verified: one verity target over the whole layer, on
 * the loop device bound to the hashed inode, with the signed root hash and
 * the delivery kit's parameters. The device number mounted is the one the
 * kernel reports here, not the one a path in /dev/mapper names.
 *
 * Not exercised on the lab host (no device-mapper): unit-tested on tables
 * in the kernel's format (drivers/md/dm-verity-target.c, verity_status
 * STATUSTYPE_TABLE).
 */
import { equalHex } from '../constant-time.ts';
import type { VerityParams } from '../verity/index.ts';
import { Refusal } from './refusal.ts';

export interface DmTarget {
  /** First sector (512 bytes) the target maps. */
  start: bigint;
  /** Sectors it maps. */
  length: bigint;
  type: string;
  params: string;
}

export interface DmTable {
  /** The device-mapper device's major:minor, as the kernel reports it. */
  majmin: string;
  targets: DmTarget[];
}

/** Parses `layer-bind dm-table` output: "MAJ:MIN COUNT", then "START LENGTH TYPE PARAMS" per target. */
export function parseDmTable(text: string, name: string): DmTable {
  const [head, ...lines] = text.trimEnd().split('\n');
  const m = /^(\d+:\d+) (\d+)$/.exec(head ?? '');
  if (!m) throw new Refusal(`device-mapper device ${name}: the helper printed no table header (got ${JSON.stringify(head ?? '')})`);
  const targets = lines.map((line) => {
    const t = /^(\d+) (\d+) (\S+) ?(.*)$/.exec(line);
    if (!t) throw new Refusal(`device-mapper device ${name}: cannot read the table line ${JSON.stringify(line)}`);
    return { start: BigInt(t[1]!), length: BigInt(t[2]!), type: t[3]!, params: t[4]! };
  });
  if (targets.length !== Number(m[2])) throw new Refusal(`device-mapper device ${name}: the kernel counts ${m[2]} targets, ${targets.length} were printed`);
  return { majmin: m[1]!, targets };
}

export interface VerityExpectation {
  /** The loop device bound to the hashed inode (major:minor). */
  dataDevice: string;
  /** The layer's size in bytes. */
  dataBytes: number;
  /** The signed root hash (hex). */
  rootHash: string;
  params: VerityParams;
}

/**
 * Checks that `table` is one dm-verity target over the whole layer with
 * `expected`'s data device, root hash and parameters; throws a Refusal
 * naming the first difference.
 */
export function checkVerityTable(table: DmTable, expected: VerityExpectation, name: string): void {
  const refuse = (why: string) => {
    throw new Refusal(`device-mapper device ${name} (${table.majmin}) is not the verity device the gate asked for: ${why}`);
  };
  if (table.targets.length !== 1) refuse(`${table.targets.length} targets, expected one`);
  const t = table.targets[0]!;
  if (t.type !== 'verity') refuse(`its target is "${t.type}", not "verity"`);
  const sectors = BigInt(expected.dataBytes) / 512n;
  if (t.start !== 0n || t.length !== sectors) refuse(`it maps sectors ${t.start}+${t.length}, the layer is ${sectors} sectors`);
  // <version> <data_dev> <hash_dev> <data_block_size> <hash_block_size> <#data_blocks> <hash_start> <algorithm> <root> <salt> [optional]
  const f = t.params.split(' ');
  if (f.length < 10) refuse(`its parameters are not a verity table: ${t.params}`);
  // The gate's `veritysetup open` asks for none. Each one weakens the check:
  // ignore_corruption returns blocks that fail it, check_at_most_once lets a
  // block changed on the loop device's file after its first read through
  // unchecked, ignore_zero_blocks skips blocks, FEC can rewrite them.
  if (f.length > 10) refuse(`optional parameters the gate did not ask for: ${f.slice(10).join(' ')}`);
  const [version, dataDev, , dataBlock, hashBlock, dataBlocks, , algorithm, root, salt] = f as [string, string, string, string, string, string, string, string, string, string];
  const p = expected.params;
  const want: [string, string, string][] = [
    ['hash type', version, String(p.hashType)],
    ['data device', dataDev, expected.dataDevice],
    ['data block size', dataBlock, String(p.dataBlockSize)],
    ['hash block size', hashBlock, String(p.hashBlockSize)],
    ['data blocks', dataBlocks, String(Math.floor(expected.dataBytes / p.dataBlockSize))],
    ['algorithm', algorithm, p.hashAlgorithm],
    ['salt', salt, p.salt.length ? p.salt.toString('hex') : '-'],
  ];
  for (const [what, got, wanted] of want) if (got !== wanted) refuse(`${what} ${got}, expected ${wanted}`);
  if (!equalHex(root, expected.rootHash)) refuse(`root hash ${root}, the signed manifest says ${expected.rootHash}`);
}
