/**
 * `integrity-lab results verify ARCHIVE`: checks a run's results bundle
 * (lab/cli/results-bundle.ts) and exits 0 only when it is intact.
 */
import { readFile } from 'node:fs/promises';
import { verifyResultsBundle } from './results-bundle.ts';
import type { Command } from './command.ts';

const usage = `usage:
  integrity-lab results verify ARCHIVE   check a results bundle (reports/latest/results.tar):
                                         every member against its manifest, nothing missing
                                         or added, no private key inside
Exit codes: 0 intact, 1 not intact, 2 bad usage or unreadable file.`;

export const command: Command = {
  name: 'results',
  summary: "verify a conformance run's results bundle (reports/latest/results.tar)",
  usage,
  async run(argv, io) {
    const [sub, archive, ...extra] = argv;
    if (sub !== 'verify' || !archive || extra.length) {
      io.err(usage);
      return 2;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(archive);
    } catch (err) {
      io.err(`results verify: cannot read ${archive}: ${(err as Error).message}`);
      return 2;
    }
    const check = verifyResultsBundle(bytes);
    for (const p of check.problems) io.err(`${archive}: ${p}`);
    io.out(JSON.stringify({ archive, intact: check.ok, sha256: check.archiveSha256, members: check.members, outcomes: check.outcomes }));
    return check.ok ? 0 : 1;
  },
};
