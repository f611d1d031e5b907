#!/usr/bin/env node
// The integrity-lab CLI. The sources are TypeScript, run through tsx.
import { register } from 'tsx/esm/api';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `integrity-lab needs Node 22 or later, this is ${process.versions.node}. ` +
      'Run it as `npx integrity-lab …` from the project, which uses the bundled Node 24.\n',
  );
  process.exit(1);
}
register();
const { main } = await import('../lab/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
