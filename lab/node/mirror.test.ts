import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDebianMirror, parseDeb822Sources, parseOneLineSources, pickDebianMirror } from './mirror.ts';
import { isLabError } from '../errors.ts';

const deb822 = `Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`;

describe('parseDeb822Sources', () => {
  it('reads every stanza with its suites', () => {
    const s = parseDeb822Sources(deb822, 'x.sources');
    assert.deepEqual(s.map((x) => x.uri), ['http://mirror.example/debian', 'http://mirror.example/debian-security']);
    assert.deepEqual(s[0]?.suites, ['bookworm', 'bookworm-updates']);
  });
  describe('when a stanza is disabled', () => {
    it('skips it', () => {
      assert.equal(parseDeb822Sources(`Enabled: no\n${deb822}`, 'x').length, 1);
    });
  });
});

describe('parseOneLineSources', () => {
  it('reads deb lines with and without options and ignores comments', () => {
    const s = parseOneLineSources(
      '# deb http://old/debian sid main\ndeb [arch=amd64] http://m/debian sid main\ndeb-src http://m/debian sid main\ndeb http://u/ubuntu noble main',
      'sources.list',
    );
    assert.deepEqual(s.map((x) => `${x.uri} ${x.suites[0]}`), ['http://m/debian sid', 'http://u/ubuntu noble']);
  });
});

describe('pickDebianMirror', () => {
  it('prefers the main archive over security and third-party repositories', () => {
    const picked = pickDebianMirror([
      { uri: 'https://third.party/apt', suites: ['stable'], origin: 'a' },
      { uri: 'http://m/debian-security', suites: ['bookworm-security'], origin: 'b' },
      { uri: 'http://m/debian', suites: ['bookworm'], origin: 'c' },
    ]);
    assert.equal(picked?.uri, 'http://m/debian');
  });
  describe('when only Ubuntu sources exist', () => {
    it('finds none', () => {
      assert.equal(pickDebianMirror([{ uri: 'http://u/ubuntu', suites: ['noble'], origin: 'x' }]), undefined);
    });
  });
});

describe('findDebianMirror', () => {
  it('reads the mirror from an apt directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'il-apt-'));
    try {
      await mkdir(join(dir, 'sources.list.d'));
      await writeFile(join(dir, 'sources.list.d', 'debian.sources'), deb822);
      assert.equal(await findDebianMirror({}, dir), 'http://mirror.example/debian');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  describe('when no Debian archive is configured', () => {
    it('fails with MIRROR_NOT_FOUND and says how to fix it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'il-apt-'));
      try {
        await assert.rejects(findDebianMirror({}, dir), (e) => isLabError(e, 'MIRROR_NOT_FOUND') && /INTEGRITY_LAB_DEBIAN_MIRROR/.test(e.message));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
  describe('when the override is set', () => {
    it('uses it without reading apt', async () => {
      assert.equal(await findDebianMirror({ INTEGRITY_LAB_DEBIAN_MIRROR: 'http://o/debian' }, '/nonexistent'), 'http://o/debian');
    });
  });
});
