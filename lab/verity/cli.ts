/**
 * `integrity-lab verity`: format, verify and root-hash, with veritysetup's
 * option names so commands can be swapped one for the other.
 *
 * Exit codes: 0 success; 1 verification ran and found corruption or a root
 * hash mismatch; 2 bad usage or bad input (a typed error, message on stderr).
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { CliIo, Command } from '../cli/command.ts';
import { describeError, isLabError } from '../errors.ts';
import { verityError, type VerityErrorCode } from './errors.ts';
import {
  DELIVERY_KIT_PARAMS,
  HASH_ALGORITHMS,
  isHashAlgorithm,
  parseSalt,
  validateParams,
  type VerityParams,
} from './params.ts';
import { computeRootHash, format, verify } from './verity.ts';
import { forgetNativeLeaves, LEAVES_NAME, LEAVES_SOURCE, loadNativeLeaves, nativeLeavesPath, nativeLeavesWanted } from './native-leaves.ts';

const USAGE = `Usage:
  integrity-lab verity format DATA HASHFILE [options]
      Write the hash tree of DATA into HASHFILE (as veritysetup format) and print the root hash.
  integrity-lab verity verify DATA HASHFILE ROOTHASH [options]
      Check DATA and HASHFILE against ROOTHASH (as veritysetup verify); exit 1 naming the first corrupted block.
  integrity-lab verity root-hash DATA [options]
      Print the root hash of DATA without writing anything. Defaults to the delivery-kit parameters
      (sha256, 4096/4096, format 1, fixed salt ${DELIVERY_KIT_PARAMS.salt.toString('hex')}).

Options (same names and defaults as veritysetup 2.6):
  --hash sha256|sha512|sha1     hash algorithm (default sha256)
  --data-block-size N           data block size, power of two 512..524288 (default 4096)
  --hash-block-size N           hash block size, power of two 512..524288 (default 4096)
  --format 0|1                  hash type: 1 normal, 0 Chrome OS (default 1)
  --salt HEX|-                  salt in hex, "-" for none (format default: 32 random bytes)
  --no-superblock               no on-disk superblock (verify then needs the same options as format)
  --hash-offset N               byte offset of the superblock/tree in HASHFILE, multiple of 512 (default 0)
  --data-blocks N               data blocks to cover (default: every whole block of DATA)
  --uuid UUID                   superblock UUID (format; default random)
  -h, --help                    show this text

Exit codes: 0 ok, 1 verification failed, 2 bad usage or input.`;

const OPTIONS = {
  hash: { type: 'string' },
  'data-block-size': { type: 'string' },
  'hash-block-size': { type: 'string' },
  format: { type: 'string' },
  salt: { type: 'string' },
  'no-superblock': { type: 'boolean' },
  'hash-offset': { type: 'string' },
  'data-blocks': { type: 'string' },
  uuid: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = {
  hash?: string;
  'data-block-size'?: string;
  'hash-block-size'?: string;
  format?: string;
  salt?: string;
  'no-superblock'?: boolean;
  'hash-offset'?: string;
  'data-blocks'?: string;
  uuid?: string;
  help?: boolean;
};

const PARAM_OPTIONS = ['hash', 'data-block-size', 'hash-block-size', 'format', 'salt'] as const;

class UsageError extends Error {}

function integer(value: string | undefined, option: string, code: VerityErrorCode): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw verityError(code, `--${option}: expected a non-negative integer, got "${value}"`);
  }
  return Number(value);
}

function paramsFrom(values: Values, defaults: VerityParams, randomSalt: () => Buffer): VerityParams {
  const hash = values.hash ?? defaults.hashAlgorithm;
  if (!isHashAlgorithm(hash)) {
    throw verityError('UNSUPPORTED_HASH', `--hash: expected one of ${HASH_ALGORITHMS.join(', ')}, got "${hash}"`);
  }
  const hashType = values.format ?? String(defaults.hashType);
  if (hashType !== '0' && hashType !== '1') {
    throw verityError('INVALID_HASH_TYPE', `--format: expected 0 or 1, got "${hashType}"`);
  }
  const params: VerityParams = {
    hashAlgorithm: hash,
    dataBlockSize: integer(values['data-block-size'], 'data-block-size', 'INVALID_BLOCK_SIZE') ?? defaults.dataBlockSize,
    hashBlockSize: integer(values['hash-block-size'], 'hash-block-size', 'INVALID_BLOCK_SIZE') ?? defaults.hashBlockSize,
    salt: values.salt === undefined ? randomSalt() : parseSalt(values.salt, '--salt'),
    hashType: hashType === '0' ? 0 : 1,
  };
  validateParams(params, 'options');
  return params;
}

const VERITYSETUP_DEFAULTS: VerityParams = {
  hashAlgorithm: 'sha256',
  dataBlockSize: 4096,
  hashBlockSize: 4096,
  salt: Buffer.alloc(0),
  hashType: 1,
};

export interface VerityCommandDeps {
  /** Source of the default random salt and UUID (veritysetup uses 32 random salt bytes). */
  randomBytes?: (size: number) => Buffer;
}

export function createVerityCommand(deps: VerityCommandDeps = {}): Command {
  const randomBytes = deps.randomBytes ?? cryptoRandomBytes;

  async function runFormat(positionals: string[], values: Values, io: CliIo): Promise<number> {
    const [data, hashFile, ...rest] = positionals;
    if (data === undefined || hashFile === undefined || rest.length > 0) {
      throw new UsageError(`format: expected DATA HASHFILE, got ${positionals.length} argument(s)`);
    }
    const params = paramsFrom(values, VERITYSETUP_DEFAULTS, () => randomBytes(32));
    const noSuperblock = values['no-superblock'] === true;
    const result = await format(data, hashFile, {
      params,
      noSuperblock,
      hashOffset: integer(values['hash-offset'], 'hash-offset', 'INVALID_HASH_OFFSET') ?? 0,
      dataBlocks: integer(values['data-blocks'], 'data-blocks', 'INVALID_DATA_BLOCKS'),
      uuid: values.uuid,
      randomBytes,
    });
    io.out(`VERITY header information for ${hashFile}`);
    io.out(`UUID: ${result.uuid ?? ''}`);
    io.out(`Hash type: ${params.hashType}`);
    io.out(`Data blocks: ${result.dataBlocks}`);
    io.out(`Data block size: ${params.dataBlockSize}`);
    io.out(`Hash blocks: ${result.hashBlocks}`);
    io.out(`Hash block size: ${params.hashBlockSize}`);
    io.out(`Hash algorithm: ${params.hashAlgorithm}`);
    io.out(`Salt: ${params.salt.length === 0 ? '-' : params.salt.toString('hex')}`);
    io.out(`Root hash: ${result.rootHashHex}`);
    io.out(`Hash device size: ${result.hashFileSize} [bytes]`);
    return 0;
  }

  async function runVerify(positionals: string[], values: Values, io: CliIo): Promise<number> {
    const [data, hashFile, rootHash, ...rest] = positionals;
    if (data === undefined || hashFile === undefined || rootHash === undefined || rest.length > 0) {
      throw new UsageError(`verify: expected DATA HASHFILE ROOTHASH, got ${positionals.length} argument(s)`);
    }
    const noSuperblock = values['no-superblock'] === true;
    let params: VerityParams | undefined;
    if (noSuperblock) {
      if (values.salt === undefined) {
        throw new UsageError('verify --no-superblock: --salt is required (use "-" for none), as the salt is not stored anywhere');
      }
      params = paramsFrom(values, VERITYSETUP_DEFAULTS, () => Buffer.alloc(0));
    } else {
      const given = PARAM_OPTIONS.filter((name) => values[name] !== undefined);
      if (given.length > 0) {
        throw new UsageError(
          `verify: ${given.map((g) => `--${g}`).join(', ')} come from the superblock; give them only with --no-superblock`,
        );
      }
    }
    const result = await verify(data, hashFile, rootHash, {
      params,
      noSuperblock,
      hashOffset: integer(values['hash-offset'], 'hash-offset', 'INVALID_HASH_OFFSET') ?? 0,
      dataBlocks: integer(values['data-blocks'], 'data-blocks', 'INVALID_DATA_BLOCKS'),
    });
    if (result.ok) {
      io.out(`Verification succeeded: ${result.dataBlocks} data blocks match root hash ${result.rootHash}`);
      return 0;
    }
    io.err(`Verification failed: ${result.reason}`);
    if (result.failure.kind === 'data') io.out(`First corrupted data block: ${result.failure.dataBlock}`);
    return 1;
  }

  async function runRootHash(positionals: string[], values: Values, io: CliIo): Promise<number> {
    const [data, ...rest] = positionals;
    if (data === undefined || rest.length > 0) {
      throw new UsageError(`root-hash: expected DATA, got ${positionals.length} argument(s)`);
    }
    for (const option of ['no-superblock', 'hash-offset', 'uuid'] as const) {
      if (values[option] !== undefined) throw new UsageError(`root-hash: --${option} does not apply (nothing is written)`);
    }
    const params = paramsFrom(values, DELIVERY_KIT_PARAMS, () => Buffer.from(DELIVERY_KIT_PARAMS.salt));
    const root = await computeRootHash(data, params, {
      dataBlocks: integer(values['data-blocks'], 'data-blocks', 'INVALID_DATA_BLOCKS'),
    });
    io.out(`Root hash: ${root.toString('hex')}`);
    return 0;
  }

  return {
    name: 'verity',
    summary: 'dm-verity hash trees compatible with veritysetup: format, verify, root-hash',
    usage: USAGE,
    async run(argv: string[], io: CliIo): Promise<number> {
      let values: Values;
      let positionals: string[];
      try {
        ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
      } catch (err) {
        io.err(`verity: ${(err as Error).message}`);
        io.err(USAGE);
        return 2;
      }
      const [action, ...rest] = positionals;
      if (values.help === true) {
        io.out(USAGE);
        return 0;
      }
      if (action === undefined) {
        io.err('verity: expected an action: format, verify or root-hash');
        io.err(USAGE);
        return 2;
      }
      if (action === 'format' || action === 'verify' || action === 'root-hash') await ensureNativeLeaves(io);
      try {
        switch (action) {
          case 'format':
            return await runFormat(rest, values, io);
          case 'verify':
            return await runVerify(rest, values, io);
          case 'root-hash':
            return await runRootHash(rest, values, io);
          default:
            throw new UsageError(`unknown action "${action}": expected format, verify or root-hash`);
        }
      } catch (err) {
        if (err instanceof UsageError) {
          io.err(`verity: ${err.message}`);
          io.err(USAGE);
          return 2;
        }
        if (isLabError(err)) {
          io.err(`verity ${action}: ${describeError(err)}`);
          return 2;
        }
        throw err;
      }
    },
  };
}

/**
 * The native leaf hasher, built here on first use (gcc, Node's own headers;
 * once per source, cached under .lab/native): a line on stderr says so. If
 * it cannot be built, hashing goes on with Node's crypto, and a line says
 * why.
 */
async function ensureNativeLeaves(io: CliIo): Promise<void> {
  if (!nativeLeavesWanted() || loadNativeLeaves() !== undefined || nativeLeavesPath() === undefined) return;
  try {
    const { compileNodeAddon } = await import('../node/native.ts');
    const built = await compileNodeAddon(LEAVES_SOURCE, LEAVES_NAME);
    forgetNativeLeaves();
    io.err(loadNativeLeaves() !== undefined ? `verity: built the native hasher once (${built})` : `verity: the native hasher built at ${built} does not load; hashing with Node's crypto`);
  } catch (err) {
    io.err(`verity: the native hasher could not be built (${describeError(err).split('\n')[0]}); hashing with Node's crypto`);
  }
}

export const command: Command = createVerityCommand();
