/**
 * Small, strict encoders and decoders shared by the signer and the verifier.
 * Strictness matters here: every decoder below runs on attacker-controlled
 * annotation values, so "lenient" would mean "two encodings verify the same".
 */
import { createHash } from 'node:crypto';
import { LabError } from '../errors.ts';
import type { SignerErrorCode } from './errors.ts';

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** OCI digest string `sha256:<hex>` of `bytes` (OCI image-spec, descriptor.md "Digests"). */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** True for `sha256:` followed by exactly 64 lowercase hex digits. */
export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard base64 (RFC 4648 §4, with padding, no whitespace) and
 * returns undefined for anything else, including non-canonical trailing bits,
 * so that each byte string has exactly one accepted encoding.
 */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** Standard base64 with padding (RFC 4648 §4), as Go's base64.StdEncoding writes it. */
export function encodeBase64(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----\r?\n?/g;

/**
 * Splits a PEM bundle (RFC 7468) into the DER bytes of its CERTIFICATE
 * blocks. Anything else in the text — another block type, stray bytes —
 * makes it return undefined: a chain annotation is either all certificates
 * or it is malformed.
 */
export function parsePemCertificates(text: string): Buffer[] | undefined {
  const ders: Buffer[] = [];
  let cursor = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (text.slice(cursor, match.index).trim() !== '') return undefined;
    if (match[1] !== 'CERTIFICATE') return undefined;
    const der = decodeBase64Strict((match[2] ?? '').replace(/\r?\n/g, ''));
    if (der === undefined || der.length === 0) return undefined;
    ders.push(der);
    cursor = match.index + match[0].length;
  }
  return text.slice(cursor).trim() === '' ? ders : undefined;
}

/** PEM text (RFC 7468) of one DER object, 64-column lines, trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * JSON Canonicalization Scheme, RFC 8785: object members sorted by their
 * UTF-16 code units, no whitespace, strings and numbers serialised as
 * ECMAScript's JSON.stringify does (RFC 8785 §3.2.2 defines them that way).
 * Rejects what JCS cannot represent: non-finite numbers, lone surrogates,
 * and anything that is not plain JSON data.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, '$');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function canonical(value: unknown, where: string): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw unsupported(where, `a finite number, got ${value}`);
    return JSON.stringify(value);
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw unsupported(where, 'a well-formed Unicode string, got a lone surrogate');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item, i) => canonical(item, `${where}[${i}]`)).join(',')}]`;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    for (const key of keys) {
      if (LONE_SURROGATE.test(key)) throw unsupported(where, 'well-formed member names, got a lone surrogate');
    }
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k], `${where}.${k}`)}`).join(',')}}`;
  }
  throw unsupported(where, `JSON data, got ${typeof value}`);
}

function unsupported(where: string, expected: string): LabError<SignerErrorCode> {
  return new LabError<SignerErrorCode>('CANONICAL_JSON_UNSUPPORTED', `canonical JSON at ${where}: expected ${expected}`);
}

/**
 * Quotes an attacker-controlled string for an error message: JSON-escaped
 * (so it cannot forge log lines) and cut to `max` characters.
 */
export function quote(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut) + (value.length > max ? ` (${value.length} chars)` : '');
}
