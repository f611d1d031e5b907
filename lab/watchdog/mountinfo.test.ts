import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bindIdentity, isUnder, namespaceRoot, nodePathOf, parseMountinfo, unescapeMountinfo } from './mountinfo.ts';
import { TESTDATA, sampleText } from './test-samples.ts';

/** util-linux's own parser of the same file: the peer the parser is checked against. */
function findmnt(file: string): { id: number; parent: number; 'maj:min': string; fsroot: string; target: string; fstype: string; source: string; 'vfs-options': string; 'fs-options': string }[] {
  const out = execFileSync('findmnt', ['--tab-file', file, '-J', '-l', '--nofsroot', '-o', 'ID,PARENT,MAJ:MIN,FSROOT,TARGET,FSTYPE,SOURCE,VFS-OPTIONS,FS-OPTIONS'], { encoding: 'utf8' });
  return (JSON.parse(out) as { filesystems: ReturnType<typeof findmnt> }).filesystems;
}

describe('parseMountinfo', () => {
  describe('when given mountinfo captured from lab nodes', () => {
    for (const file of ['integrity/node.mountinfo', 'integrity/system-agent.attacked.mountinfo', 'integrity/system-agent-sandbox.mountinfo', 'vanilla/system-agent.mountinfo', 'integrity-volumes/volume-agent.changed.mountinfo']) {
      it(`reads every field of ${file} as util-linux findmnt does`, () => {
        const ours = parseMountinfo(sampleText(file.split('/')[0] as 'integrity', file.split('/')[1]!));
        const peer = findmnt(join(TESTDATA, file));
        assert.equal(ours.length, peer.length);
        for (const [i, p] of peer.entries()) {
          const m = ours[i]!;
          assert.deepEqual(
            [m.mountId, m.parentId, m.majmin, m.root, m.mountPoint, m.fstype, m.source, m.mountOptions.join(','), m.superOptions.join(',')],
            [p.id, p.parent, p['maj:min'], p.fsroot, p.target, p.fstype, p.source, p['vfs-options'], p['fs-options']],
            `line ${i + 1}`,
          );
        }
      });
    }
  });

  describe('when a path holds spaces, tabs, newlines or backslashes', () => {
    const line = '300 140 0:71 /dir\\040with\\011tab /mnt/a\\040b\\134c rw,relatime shared:5 master:2 - tmpfs my\\040src rw,size=4k';
    it('undoes the kernel octal escapes, as findmnt does', () => {
      const dir = mkdtempSync(join(tmpdir(), 'wd-mountinfo-'));
      try {
        writeFileSync(join(dir, 'mountinfo'), line + '\n');
        const [m] = parseMountinfo(line);
        const [p] = findmnt(join(dir, 'mountinfo'));
        assert.equal(m!.mountPoint, '/mnt/a b\\c');
        assert.equal(m!.root, '/dir with\ttab');
        assert.deepEqual([m!.mountPoint, m!.root, m!.source], [p!.target, p!.fsroot, p!.source]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('keeps every optional field', () => {
      assert.deepEqual(parseMountinfo(line)[0]!.optional, ['shared:5', 'master:2']);
    });
  });

  describe('when a read of a namespace that is going away ends mid-line', () => {
    it('skips the torn line', () => {
      const text = sampleText('integrity', 'system-agent.mountinfo');
      const torn = text.slice(0, text.indexOf('\n', 200) + 20);
      const entries = parseMountinfo(torn);
      assert.ok(entries.length >= 1);
      assert.ok(entries.every((e) => e.fstype && e.mountPoint.startsWith('/')));
      assert.equal(entries.length, torn.split('\n').length - 1);
    });
  });
});

describe('unescapeMountinfo', () => {
  describe('when a field has no escapes', () => {
    it('returns it unchanged', () => assert.equal(unescapeMountinfo('/var/lib/containerd'), '/var/lib/containerd'));
  });
});

describe('namespaceRoot', () => {
  describe('when something is mounted over /', () => {
    it('still finds the namespace root (its parent is outside the table)', () => {
      const entries = parseMountinfo(sampleText('integrity', 'system-agent.attacked.mountinfo'));
      const root = namespaceRoot(entries)!;
      assert.equal(root.mountId, 140);
      assert.equal(root.fstype, 'overlay');
      assert.equal(entries.filter((e) => e.mountPoint === '/').length, 2);
    });
  });
});

describe('bindIdentity', () => {
  describe('when the source lives on a bind-mounted volume of the node', () => {
    it('gives the st_dev and the path within that filesystem, as the container sees it', () => {
      const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
      const id = bindIdentity(node, '/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/09b96b7d85335ff7dbd1487641bcae94f76435ad7b011107946bdfc8b752cf2a/hosts')!;
      const container = parseMountinfo(sampleText('integrity', 'system-agent.mountinfo')).find((e) => e.mountPoint === '/etc/hosts')!;
      assert.deepEqual([id.majmin, id.root], [container.majmin, container.root]);
    });
  });
  describe('when the source is itself a mount point', () => {
    it('gives that mount with root /', () => {
      const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
      const id = bindIdentity(node, '/run/containerd/io.containerd.grpc.v1.cri/sandboxes/09b96b7d85335ff7dbd1487641bcae94f76435ad7b011107946bdfc8b752cf2a/shm')!;
      assert.deepEqual([id.majmin, id.root], ['0:46', '/']);
    });
  });
});

describe('nodePathOf', () => {
  describe('when a container mount comes from the node root filesystem', () => {
    it('names the node path', () => {
      const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
      const attacked = parseMountinfo(sampleText('integrity', 'system-agent.attacked.mountinfo')).find((e) => e.mountPoint === '/opt/agent/config')!;
      assert.equal(nodePathOf(node, attacked), '/var/lib/integrity-lab/evil');
    });
  });
  describe('when the filesystem exists only in the container (its own tmpfs)', () => {
    it('names nothing', () => {
      const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
      const attacked = parseMountinfo(sampleText('integrity', 'system-agent.attacked.mountinfo')).find((e) => e.mountPoint === '/opt/agent/run.sh')!;
      assert.equal(nodePathOf(node, attacked), undefined);
    });
  });
});

describe('isUnder', () => {
  describe('when one path is a string prefix of another but not a parent', () => {
    it('says no', () => {
      assert.equal(isUnder('/etc2/x', '/etc'), false);
      assert.equal(isUnder('/etc/x', '/etc'), true);
      assert.equal(isUnder('/etc', '/etc'), true);
      assert.equal(isUnder('/anything', '/'), true);
    });
  });
});
