#!/usr/bin/env node
// The integrity-lab CLI. The sources are TypeScript with erasable syntax only
// (tsconfig's erasableSyntaxOnly), so Node 22.18+ and 24 run them directly by
// stripping the types: no compile step at start. Older Node 22 releases, which
// lack type stripping, fall back to tsx (about a second slower to start).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `integrity-lab needs Node 22 or later, this is ${process.versions.node}. ` +
      'Run it as `npx integrity-lab …` from the project, which uses the bundled Node 24.\n',
  );
  process.exit(1);
}
// V8's code cache (and, on Node 24, the type-stripped sources) kept on disk
// between starts: a warm start skips most of the parsing and stripping.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
if (!process.features.typescript) {
  const { register } = await import('tsx/esm/api');
  register();
}
// These hash a large file on two threads, and a worker thread takes longer to
// start than the CLI's modules take to load: start one now (lab/verity/worker-source.ts).
if (process.argv[2] === 'verity' && ['format', 'verify', 'root-hash'].includes(process.argv[3])) {
  (await import('../lab/verity/worker-source.ts')).startEarlyHashThreadForLargeFile(process.argv.slice(4));
}
const { main } = await import('../lab/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
