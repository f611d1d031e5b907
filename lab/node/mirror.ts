/**
 * Finds the Debian mirror this host already uses, from its apt sources, so
 * that the node image can be bootstrapped offline from it. The mirror's host
 * name is never written into the project: it is read here at run time.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.ts';
import type { NodeErrorCode } from './errors.ts';

export interface AptSource {
  uri: string;
  suites: string[];
  /** Where it was declared, for messages. */
  origin: string;
}

/** Parses one-line `deb URI SUITE COMPONENTS...` entries (sources.list format). */
export function parseOneLineSources(text: string, origin: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    // deb [options] uri suite components...
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]) out.push({ uri: m[1], suites: [m[2]], origin });
  }
  return out;
}

/** Parses deb822 stanzas (`*.sources` files). */
export function parseDeb822Sources(text: string, origin: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
    }
    const types = (fields.get('types') ?? '').split(/\s+/);
    if (!types.includes('deb') || fields.get('enabled') === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) {
      out.push({ uri, suites, origin });
    }
  }
  return out;
}

/**
 * Picks the main Debian archive among the sources: not the security archive,
 * not a third-party repository. sid lives on the same mirror as the stable
 * suites (FACTS.md), so any main-archive URI will do.
 */
export function pickDebianMirror(sources: AptSource[]): AptSource | undefined {
  const debianSuite = /^(sid|unstable|testing|stable|oldstable|buster|bullseye|bookworm|trixie|forky|duke)(-updates|-backports)?$/;
  return sources.find(
    (s) => /\/debian\/?$/.test(s.uri) && !/security/.test(s.uri) && s.suites.some((suite) => debianSuite.test(suite)),
  );
}

/** Reads the host's apt sources and returns the mirror URI to bootstrap sid from. */
export async function findDebianMirror(
  env: NodeJS.ProcessEnv = process.env,
  aptDir = '/etc/apt',
): Promise<string> {
  const override = env.INTEGRITY_LAB_DEBIAN_MIRROR;
  if (override) return override;
  const sources: AptSource[] = [];
  const main = join(aptDir, 'sources.list');
  sources.push(...parseOneLineSources(await readFile(main, 'utf8').catch(() => ''), main));
  const dir = join(aptDir, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [])).sort()) {
    const path = join(dir, name);
    if (name.endsWith('.list')) sources.push(...parseOneLineSources(await readFile(path, 'utf8'), path));
    if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(await readFile(path, 'utf8'), path));
  }
  const picked = pickDebianMirror(sources);
  if (!picked) {
    throw new LabError<NodeErrorCode>(
      'MIRROR_NOT_FOUND',
      `no Debian main archive found in ${aptDir}/sources.list{,.d} (${sources.length} sources read); ` +
        'set INTEGRITY_LAB_DEBIAN_MIRROR to a Debian mirror URL that carries sid',
    );
  }
  return picked.uri;
}
