/**
 * `integrity-lab sign`: a thin command over the signer library.
 * stdout carries results (a digest, or the verification result as JSON);
 * stderr carries progress and errors.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Command, CliIo } from '../cli/command.ts';
import { describeError } from '../errors.ts';
import { localExec } from '../exec.ts';
import type { Exec } from '../exec.ts';
import { formatProgress } from '../progress.ts';
import type { ProgressListener } from '../progress.ts';
import { signImageInRegistry, verifyImageInRegistry } from './image.ts';
import { PAYLOAD_FORMATS } from './payload.ts';
import type { PayloadFormat } from './payload.ts';
import { PKI_FILES, generateLabPki, loadLabPki, loadTrustedRoots } from './pki.ts';
import type { Clock } from './pki.ts';
import { RegistryClient, parseRepositoryReference } from './registry.ts';
import { pkiSigningIdentity } from './sign.ts';

const USAGE = `Usage:
  integrity-lab sign pki init DIR [--subject NAME] [--tls-dns NAME]... [--tls-ip IP]...
      Make a lab PKI in DIR: root CA, intermediate CA, image signing and
      webhook TLS certificates (ECDSA P-256). Keys are written mode 0600.

  integrity-lab sign --pki DIR --registry URL --image REPO:TAG [--format delivery-kit|v2] [--work-dir DIR]
      Sign an image already in the registry: compute each layer's dm-verity
      root hash over the EROFS image the node builds (runs mkfs.erofs),
      annotate, sign, push back under the same tag. Prints the new digest.

  integrity-lab sign verify --pki DIR --registry URL --image REPO:TAG|REPO@DIGEST
                            [--format delivery-kit|v2] [--require-root-hashes]
                            [--recompute [--work-dir DIR]]
      Verify an image's attached signature against DIR's root CA. Prints the
      result as JSON; exit 0 when it verifies, 1 when it does not.

Exit codes: 0 ok, 1 failed, 2 usage error.`;

export interface SignCommandDeps {
  /** Runs mkfs.erofs. Default: this host. The lead injects the node's. */
  exec?: Exec;
  clock?: Clock;
}

/** Builds the command with injected process runner and clock (for tests and for the lab node). */
export function createSignCommand(deps: SignCommandDeps = {}): Command {
  const exec = deps.exec ?? localExec;
  const clock = deps.clock ?? ((): Date => new Date());
  return {
    name: 'sign',
    summary: 'Lab PKI, attached image signatures with dm-verity root hashes, and their verification',
    usage: USAGE,
    async run(argv: string[], io: CliIo): Promise<number> {
      try {
        if (argv.includes('--help') || argv.includes('-h')) {
          io.out(USAGE);
          return 0;
        }
        if (argv[0] === 'pki') return await pkiInit(argv.slice(1), io, clock);
        if (argv[0] === 'verify') return await verify(argv.slice(1), io, clock, exec);
        return await sign(argv, io, clock, exec);
      } catch (err) {
        if (err instanceof UsageError) {
          io.err(`sign: ${err.message}`);
          io.err(USAGE);
          return 2;
        }
        io.err(`sign: ${describeError(err)}`);
        return 1;
      }
    },
  };
}

export const command: Command = createSignCommand();

class UsageError extends Error {}

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function format(value: string | undefined): PayloadFormat | undefined {
  if (value === undefined) return undefined;
  if (!(PAYLOAD_FORMATS as readonly string[]).includes(value)) throw new UsageError(`--format: expected ${PAYLOAD_FORMATS.join(' or ')}, got ${JSON.stringify(value)}`);
  return value as PayloadFormat;
}

function progressTo(io: CliIo): ProgressListener {
  return (event) => io.err(formatProgress(event));
}

async function pkiInit(argv: string[], io: CliIo, clock: Clock): Promise<number> {
  const { values, positionals } = parse(argv, {
    subject: { type: 'string' },
    'tls-dns': { type: 'string', multiple: true },
    'tls-ip': { type: 'string', multiple: true },
  });
  if (positionals[0] !== 'init' || positionals.length !== 2) throw new UsageError('expected `pki init DIR`');
  const dir = positionals[1] as string;
  const tls: { dnsNames?: string[]; ipAddresses?: string[] } = {};
  if (values['tls-dns'] !== undefined) tls.dnsNames = values['tls-dns'];
  if (values['tls-ip'] !== undefined) tls.ipAddresses = values['tls-ip'];
  await generateLabPki(dir, { clock, tls, ...(values.subject === undefined ? {} : { subject: values.subject }) });
  io.err(`PKI written to ${dir} (trust anchor: ${join(dir, PKI_FILES.rootCert)})`);
  io.out(join(dir, PKI_FILES.rootCert));
  return 0;
}

async function withWorkDir<T>(given: string | undefined, work: (dir: string) => Promise<T>): Promise<T> {
  if (given !== undefined) return work(given);
  const dir = await mkdtemp(join(tmpdir(), 'integrity-lab-sign-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sign(argv: string[], io: CliIo, clock: Clock, exec: Exec): Promise<number> {
  const { values, positionals } = parse(argv, {
    pki: { type: 'string' },
    registry: { type: 'string' },
    image: { type: 'string' },
    format: { type: 'string' },
    'work-dir': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const fmt = format(values.format) ?? 'delivery-kit';
  const pkiDir = required(values.pki, '--pki');
  const client = new RegistryClient(required(values.registry, '--registry'));
  const { repository, reference } = parseRepositoryReference(required(values.image, '--image'));
  const pki = await loadLabPki(pkiDir);
  const signed = await withWorkDir(values['work-dir'], (workDir) =>
    signImageInRegistry({
      client, repository, tag: reference, identity: pkiSigningIdentity(pki), format: fmt, clock,
      exec, workDir, progress: progressTo(io),
    }),
  );
  io.err(`signed ${repository}:${reference} (${fmt}, ${signed.rootHashes.length} layer root hashes): ${signed.previousDigest} → ${signed.digest}`);
  io.out(signed.digest);
  return 0;
}

async function verify(argv: string[], io: CliIo, clock: Clock, exec: Exec): Promise<number> {
  const { values, positionals } = parse(argv, {
    pki: { type: 'string' },
    registry: { type: 'string' },
    image: { type: 'string' },
    format: { type: 'string' },
    'require-root-hashes': { type: 'boolean' },
    recompute: { type: 'boolean' },
    'work-dir': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const fmt = format(values.format);
  const pkiDir = required(values.pki, '--pki');
  const client = new RegistryClient(required(values.registry, '--registry'));
  const { repository, reference } = parseRepositoryReference(required(values.image, '--image'));
  const trustedRoots = await loadTrustedRoots(pkiDir);
  const base = {
    client, repository, reference, trustedRoots, clock,
    ...(fmt === undefined ? {} : { allowedFormats: [fmt] }),
    ...(values['require-root-hashes'] === true ? { requireLayerRootHashes: true } : {}),
  };
  const result = values.recompute === true
    ? await withWorkDir(values['work-dir'], (workDir) => verifyImageInRegistry({ ...base, recompute: { exec, workDir, progress: progressTo(io) } }))
    : await verifyImageInRegistry(base);
  io.out(JSON.stringify(result, null, 2));
  for (const f of result.findings) io.err(`${f.severity.toUpperCase()} ${f.code}: ${f.message}`);
  return result.ok ? 0 : 1;
}
