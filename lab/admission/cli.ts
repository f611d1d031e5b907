/**
 * `integrity-lab admission …`
 *
 *   admission test SUITE.yaml [--policies DIR] [--json]
 *   admission serve --cert FILE --key FILE --policies DIR [--port N] [--host ADDR]
 *                   [--registry HOST=URL… --trusted-roots FILE [--allowed-format F]…] [--trust-image IMAGE]…
 *
 * The library emits decision records; this shell prints them (serve) or
 * turns suite results into one line per case and a summary (test).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CliIo, Command } from '../cli/command.ts';
import { describeError } from '../errors.ts';
import { CachedCosignVerifier, CachedImageVerifier } from './cache.ts';
import { createEngine } from './engine.ts';
import { loadLabState } from './loader.ts';
import { WebhookServer } from './server.ts';
import { parseRegistryMap, RegistryCosignVerifier, RegistryImageVerifier } from './registry-verifiers.ts';
import { runSuiteFile } from './suite.ts';
import type { CosignVerifier, ImageSignatureVerifier } from './types.ts';
import { refuseAllCosignVerifier, StaticImageVerifier } from './verifiers.ts';

const USAGE = `usage:
  integrity-lab admission test SUITE.yaml [--policies DIR] [--json]
      Run an AdmissionSuite offline (like gator verify). One line per case,
      then a summary. Exit 0 when every case matches, 1 on any mismatch,
      2 when the suite or the policies do not load.
  integrity-lab admission serve --cert FILE --key FILE --policies DIR [--port N] [--host ADDR]
                                [--registry HOST=URL]... [--trusted-roots FILE] [--allowed-format v2|delivery-kit]...
                                [--trust-image IMAGE]...
      Serve the validating webhook over HTTPS (POST /validate, GET /healthz).
      Listens on 127.0.0.1 unless --host says otherwise; --port 0 (default)
      picks a free port. With --registry (e.g. 127.0.0.1:5000=http://127.0.0.1:5000),
      signatures are verified for real with lab/signer: attached signatures
      against the CA certificates in --trusted-roots (formats: --allowed-format,
      default v2), Cosign signatures with the SecurityPolicy keys; images from
      any other registry are refused without a request. Without --registry,
      attached signatures verify only for images given with --trust-image and
      Cosign checks refuse everything. Prints one JSON decision record per
      line; stops on SIGINT or SIGTERM.`;

export interface AdmissionCommandDeps {
  /** Resolves when `serve` should stop; default: SIGINT or SIGTERM. */
  waitForStop(): Promise<void>;
}

const defaultDeps: AdmissionCommandDeps = {
  waitForStop: () =>
    new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }),
};

async function runTest(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { policies: { type: 'string' }, json: { type: 'boolean' } },
  });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    io.err(`admission test: expected one SUITE.yaml, got ${positionals.length}\n${USAGE}`);
    return 2;
  }
  let result;
  try {
    result = await runSuiteFile(file, values.policies);
  } catch (err) {
    io.err(`admission test: ${describeError(err)}`);
    return 2;
  }
  for (const r of result.results) {
    if (values.json === true) {
      io.out(JSON.stringify({ case: r.name, passed: r.passed, expected: r.expected, allowed: r.decision.allowed, message: r.decision.message, warnings: r.decision.warnings, mismatch: r.mismatch }));
    } else {
      io.out(`${r.passed ? 'PASS' : 'FAIL'}  ${r.name}${r.passed ? '' : `: ${r.mismatch}`}`);
    }
  }
  const total = result.results.length;
  io.out(`${result.suite}: ${total} case(s), ${result.passed} passed, ${result.failed} failed`);
  return result.failed === 0 ? 0 : 1;
}

async function runServe(argv: string[], io: CliIo, deps: AdmissionCommandDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cert: { type: 'string' },
      key: { type: 'string' },
      policies: { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'trust-image': { type: 'string', multiple: true },
      registry: { type: 'string', multiple: true },
      'trusted-roots': { type: 'string' },
      'allowed-format': { type: 'string', multiple: true },
    },
  });
  const missing = (['cert', 'key', 'policies'] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0 || positionals.length > 0) {
    io.err(`admission serve: ${missing.length > 0 ? `missing --${missing.join(', --')}` : `unexpected argument ${positionals[0]}`}\n${USAGE}`);
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`admission serve: --port should be an integer 0..65535, got ${JSON.stringify(values.port)}`);
    return 2;
  }
  const registries = values.registry ?? [];
  if (registries.length > 0 && values['trusted-roots'] === undefined) {
    io.err(`admission serve: --registry needs --trusted-roots (the CA certificates attached signatures must chain to)\n${USAGE}`);
    return 2;
  }
  if (registries.length > 0 && (values['trust-image'] ?? []).length > 0) {
    io.err(`admission serve: --trust-image and --registry exclude each other: with --registry every signature is verified for real\n${USAGE}`);
    return 2;
  }
  const formats = values['allowed-format'] ?? ['v2'];
  const badFormat = formats.find((f) => f !== 'v2' && f !== 'delivery-kit');
  if (badFormat !== undefined) {
    io.err(`admission serve: --allowed-format should be v2 or delivery-kit, got ${JSON.stringify(badFormat)}`);
    return 2;
  }
  let started;
  try {
    const [cert, key, state] = await Promise.all([readFile(values.cert as string), readFile(values.key as string), loadLabState(values.policies as string)]);
    let imageVerifier: ImageSignatureVerifier = new CachedImageVerifier(new StaticImageVerifier(values['trust-image'] ?? []));
    let cosignVerifier: CosignVerifier = new CachedCosignVerifier(refuseAllCosignVerifier);
    if (registries.length > 0) {
      // These cache by manifest digest themselves. The short cache by
      // reference in front bounds the registry work repeated reviews cause
      // (and shares one lookup among concurrent ones); a re-pointed tag keeps
      // its old decision for at most REFERENCE_CACHE_TTL_MS, and the node's
      // pull gate checks what is actually pulled.
      const map = parseRegistryMap(registries);
      const trustedRoots = [await readFile(values['trusted-roots'] as string, 'utf8')];
      const byReference = { ttlMs: REFERENCE_CACHE_TTL_MS, negativeTtlMs: REFERENCE_CACHE_TTL_MS };
      imageVerifier = new CachedImageVerifier(new RegistryImageVerifier({ registries: map, trustedRoots, allowedFormats: formats as ('v2' | 'delivery-kit')[] }), byReference);
      cosignVerifier = new CachedCosignVerifier(new RegistryCosignVerifier({ registries: map }), byReference);
    }
    const engine = createEngine(state, { imageVerifier, cosignVerifier });
    engine.onDecision((record) => io.out(JSON.stringify(record)));
    started = await new WebhookServer({ engine, cert, key }).withHost(values.host as string).withPort(port).start();
  } catch (err) {
    io.err(`admission serve: ${describeError(err)}`);
    return 2;
  }
  io.err(`admission serve: listening on ${started.validateUrl} (healthz: ${started.url}/healthz)`);
  await deps.waitForStop();
  await started.close();
  const s = started.stats();
  io.err(`admission serve: stopped after ${s.requests} request(s): ${s.admitted} admitted, ${s.denied} denied, ${s.malformed} malformed`);
  return 0;
}

/** How long a verification by reference (tag) is reused across reviews with registry verification on. */
export const REFERENCE_CACHE_TTL_MS = 5_000;

/** Builds the command with injectable dependencies (tests stop `serve` without signals). */
export function createAdmissionCommand(deps: AdmissionCommandDeps = defaultDeps): Command {
  return {
    name: 'admission',
    summary: 'Validating admission webhook: serve it, or run policy suites offline',
    usage: USAGE,
    async run(argv, io) {
      const [sub, ...rest] = argv;
      try {
        if (sub === 'test') return await runTest(rest, io);
        if (sub === 'serve') return await runServe(rest, io, deps);
      } catch (err) {
        // parseArgs rejects unknown options with a TypeError.
        io.err(`admission ${sub}: ${describeError(err)}\n${USAGE}`);
        return 2;
      }
      if (sub === '--help' || sub === '-h' || sub === 'help') {
        io.out(USAGE);
        return 0;
      }
      io.err(`admission: unknown subcommand ${JSON.stringify(sub ?? '')}\n${USAGE}`);
      return 2;
    },
  };
}

export const command: Command = createAdmissionCommand();
