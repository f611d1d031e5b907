/**
 * The one place the lab compares digests, root hashes and signed texts.
 *
 * Every comparison of something an attacker may be probing (a root hash
 * against the signed one, a file's sha256 against its pin, a manifest
 * digest against the signed payload) goes through these, so that none of
 * them leaks through its timing how many leading bytes matched, and so that
 * the edge cases are decided once: different lengths are unequal, and an
 * empty or malformed hex digest never equals anything (two unreadable
 * values must not "match" each other).
 */
import { timingSafeEqual } from 'node:crypto';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** Constant-time equality of two byte strings; different lengths are unequal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Constant-time equality of two hex digests (either case). Empty strings,
 * odd lengths and non-hex characters are never equal to anything, not even
 * to themselves: `'missing'` (a file that could not be read) never matches.
 */
export function equalHex(a: string, b: string): boolean {
  if (!HEX.test(a) || !HEX.test(b)) return false;
  return equalBytes(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** Constant-time equality of two texts, compared as their UTF-8 bytes. */
export function equalText(a: string, b: string): boolean {
  return equalBytes(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
