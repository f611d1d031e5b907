/**
 * dm-verity throughput: lab/verity against veritysetup on the same 256 MiB
 * file of random data, in the same run, interleaved, median of N runs.
 *
 *   node --import tsx bench/verity.ts [--mib 256] [--runs 9]
 *
 * Prints a markdown table for docs/benchmarks.md. Ratio = veritysetup time /
 * lab time, so >= 1.0 means lab/verity is at least as fast. The file is
 * read once before timing so both sides hash from the page cache; sha256
 * as measured by `openssl speed` is the physical ceiling per core.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeRootHash, format, verify, type VerityParams } from '../lab/verity/index.ts';
import { rootHashFromOutput, runVeritysetup, VERITYSETUP_PATH } from '../lab/verity/veritysetup.ts';

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '9' }, 'rss-probe': { type: 'string' } },
});
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
const BYTES = MIB * 1024 * 1024;
const SALT = '8f3c1d2e4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0';
const params: VerityParams = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.from(SALT, 'hex'), hashType: 1 };

async function writeRandomFile(path: string): Promise<void> {
  const file = await open(path, 'w');
  const chunk = Buffer.allocUnsafe(8 << 20); // one buffer, so generating the file does not inflate the peak RSS below
  try {
    for (let done = 0; done < BYTES; done += chunk.length) {
      const n = Math.min(chunk.length, BYTES - done);
      await file.write(randomFillSync(chunk, 0, n), 0, n);
    }
  } finally {
    await file.close();
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** sha256 over 4 KiB blocks on one core, in MB/s, from `openssl speed` (values are in 1000s of bytes per second). */
function opensslCeiling(): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('openssl', ['speed', '-evp', 'sha256', '-seconds', '3', '-bytes', '4096'], { encoding: 'utf8' }, (err, stdout) => {
      const k = /^sha256\s+([\d.]+)k/m.exec(stdout ?? '')?.[1];
      resolve(err || k === undefined ? undefined : Number(k) / 1000);
    });
  });
}

/**
 * Peak RSS of a fresh process that computes one root hash of `data` (or,
 * with no file, does nothing), so the figure is not mixed with the rest of
 * the benchmark. Runs this script again with --rss-probe.
 */
function probeRssMiB(data: string): number {
  const out = execFileSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--rss-probe', data], { encoding: 'utf8' });
  return Number(out.trim()) / 1024;
}

async function rssProbe(data: string): Promise<void> {
  if (data !== '') await computeRootHash(data, params);
  process.stdout.write(`${process.resourceUsage().maxRSS}\n`);
  process.exit(0); // do not wait for the pooled workers' idle timeout
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-bench-'));
  try {
    const data = join(dir, 'data.img');
    await writeRandomFile(data);
    const load0 = loadavg()[0]!;
    const ceiling = await opensslCeiling();

    // Warm-up: page cache, JIT, and one root hash to check both sides agree.
    const peerWarm = await runVeritysetup(['format', data, join(dir, 'warm.hash'), `--salt=${SALT}`]);
    const peerRoot = rootHashFromOutput(peerWarm.stdout);
    const labRoot = (await format(data, join(dir, 'warm-lab.hash'), { params, uuid: '00000000-0000-4000-8000-000000000000' })).rootHashHex;
    if (peerRoot !== labRoot) throw new Error(`root hashes differ: veritysetup ${peerRoot}, lab ${labRoot}`);

    const t: Record<string, number[]> = {};
    const record = (key: string, ms: number): void => void (t[key] ??= []).push(ms);
    for (let i = 0; i < RUNS; i++) {
      const peerHash = join(dir, `peer-${i}.hash`);
      const labHash = join(dir, `lab-${i}.hash`);
      record('peer format', await timed(async () => {
        const run = await runVeritysetup(['format', data, peerHash, `--salt=${SALT}`]);
        if (run.exitCode !== 0) throw new Error(run.stderr);
      }));
      record('lab format', await timed(() => format(data, labHash, { params })));
      record('peer verify', await timed(async () => {
        const run = await runVeritysetup(['verify', data, peerHash, peerRoot!]);
        if (run.exitCode !== 0) throw new Error(run.stderr);
      }));
      record('lab verify', await timed(async () => {
        const result = await verify(data, labHash, labRoot);
        if (!result.ok) throw new Error(result.reason);
      }));
      record('lab root hash', await timed(() => computeRootHash(data, params)));
      record('lab format, 1 thread', await timed(() => format(data, join(dir, `lab1-${i}.hash`), { params, concurrency: 1 })));
      await Promise.all([peerHash, labHash, join(dir, `lab1-${i}.hash`)].map((p) => rm(p)));
    }
    const load1 = loadavg()[0]!;
    const idleRss = probeRssMiB('');
    const hashRss = probeRssMiB(data);

    const mbps = (ms: number): string => (BYTES / 1e6 / (ms / 1000)).toFixed(0);
    const row = (what: string, key: string, peerKey?: string): string => {
      const m = median(t[key]!);
      const ratio = peerKey === undefined ? '' : (median(t[peerKey]!) / m).toFixed(2);
      return `| ${what} | ${m.toFixed(0)} | ${mbps(m)} | ${ratio} |`;
    };
    const version = execFileSync(VERITYSETUP_PATH, ['--version'], { encoding: 'utf8' }).split(/\s+/).slice(0, 2).join(' ');
    const lines = [
      `${MIB} MiB of random data in ${tmpdir()} (page cache warm), sha256, 4096/4096, format 1, 32-byte salt; ` +
        `median of ${RUNS} interleaved runs; ${availableParallelism()} cores, load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; ` +
        `node ${process.version}, ${version}.`,
      '',
      '| Operation | Median ms | MB/s | Ratio vs veritysetup |',
      '| --- | ---: | ---: | ---: |',
      row('veritysetup format', 'peer format'),
      row('lab/verity format', 'lab format', 'peer format'),
      row('veritysetup verify', 'peer verify'),
      row('lab/verity verify', 'lab verify', 'peer verify'),
      row('lab/verity computeRootHash (no hash file)', 'lab root hash', 'peer format'),
      row('lab/verity format, 1 thread (`concurrency: 1`)', 'lab format, 1 thread', 'peer format'),
      `| openssl speed -evp sha256 -seconds 3 -bytes 4096, 1 core (ceiling per core) | | ${ceiling === undefined ? 'n/a' : ceiling.toFixed(0)} | |`,
      '',
      `Memory: a fresh process computing the root hash of the ${MIB} MiB file peaks at ${hashRss.toFixed(0)} MiB RSS (all threads), ` +
        `${(hashRss - idleRss).toFixed(0)} MiB above the same process doing nothing (${idleRss.toFixed(0)} MiB): the file is streamed, not loaded.`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (values['rss-probe'] !== undefined) await rssProbe(values['rss-probe']);
else await main();
