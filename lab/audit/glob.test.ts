import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { globToRegExp, pathPrefixMatcher } from './glob.ts';

const PATTERNS = ['/home/*/.ssh/*', '*../*../*', '/proc/*/environ', '/tmp/?', '/etc/[ps]*', '/etc/[!p]*', '*.[ch]', '/a\\*b', '/x/[]]y', '*'];
const STRINGS = [
  '/home/alice/.ssh/id_rsa',
  '/home/a/b/.ssh/k',
  '/home/.ssh/x',
  '/var/www/../../etc/passwd',
  '/etc/passwd',
  '/proc/1/environ',
  '/proc/1/2/environ',
  '/tmp/a',
  '/tmp/ab',
  '/etc/shadow',
  'main.c',
  'main.cc',
  '/a*b',
  '/axb',
  '/x/]y',
  '',
];

/** bash's [[ s == pattern ]] is fnmatch without FNM_PATHNAME: the peer for libsinsp's glob. */
function bashMatches(s: string, pattern: string): boolean | undefined {
  const r = spawnSync('bash', ['-c', '[[ $1 == $2 ]]', '_', s, pattern], { encoding: 'utf8' });
  if (r.error) return undefined;
  return r.status === 0;
}

describe('globToRegExp', () => {
  describe('when compared with bash pattern matching', () => {
    const haveBash = bashMatches('a', 'a') === true;
    it('agrees on every pattern and string of the table', { skip: haveBash ? false : 'bash is not installed' }, () => {
      let compared = 0;
      for (const p of PATTERNS) {
        const re = globToRegExp(p);
        for (const s of STRINGS) {
          assert.equal(re.test(s), bashMatches(s, p), `pattern ${p} on '${s}'`);
          compared++;
        }
      }
      assert.equal(compared, PATTERNS.length * STRINGS.length);
    });
  });

  describe('when ignoring case', () => {
    it('matches other cases', () => {
      assert.equal(globToRegExp('/TMP/*', true).test('/tmp/x'), true);
      assert.equal(globToRegExp('/TMP/*').test('/tmp/x'), false);
    });
  });
});

describe('pathPrefixMatcher', () => {
  describe('when prefixes are plain paths', () => {
    const m = pathPrefixMatcher(['/tmp/hello', '/etc/', '/var/run/docker.sock']);
    it('matches the path itself and paths below it, not siblings with the same start', () => {
      assert.equal(m('/tmp/hello'), true);
      assert.equal(m('/tmp/hello/world'), true);
      assert.equal(m('/tmp/hello_world'), false);
      assert.equal(m('/etc/passwd'), true);
      assert.equal(m('/etcetera'), false);
      assert.equal(m('/var/run/docker.sock'), true);
      assert.equal(m('/var/run'), false);
    });
  });

  describe('when prefixes hold wildcards', () => {
    const m = pathPrefixMatcher(['/var/*/*.txt']);
    it('matches within one component per wildcard, as a prefix', () => {
      assert.equal(m('/var/run/a.txt'), true);
      assert.equal(m('/var/run/a.txt/more'), true);
      assert.equal(m('/var/run/sub/a.txt'), false);
      assert.equal(m('/var/a.txt'), false);
    });
  });

  describe('when the root is a prefix', () => {
    it('matches every absolute path', () => {
      assert.equal(pathPrefixMatcher(['/'])('/anything'), true);
      assert.equal(pathPrefixMatcher(['/'])('relative'), false);
    });
  });
});
