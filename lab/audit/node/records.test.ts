import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditLogToEvents } from '../auditd.ts';
import { AUDIT_RECORD_TYPES, parseTapLine, recordTypeName } from './records.ts';

const HEADER = '/usr/include/linux/audit.h';
const tap = readFileSync(join(import.meta.dirname, '../fixtures/node/tap-sample.txt'), 'utf8').split('\n').filter(Boolean);

describe('AUDIT_RECORD_TYPES', () => {
  it('agrees with include/uapi/linux/audit.h', { skip: existsSync(HEADER) ? false : `${HEADER} not installed (linux-libc-dev)` }, () => {
    const header = readFileSync(HEADER, 'utf8');
    const defined = new Map<number, string>();
    for (const m of header.matchAll(/^#define AUDIT_([A-Z0-9_]+)\s+(\d{4})\b/gm)) defined.set(Number(m[2]), m[1]!);
    let checked = 0;
    for (const [n, name] of Object.entries(AUDIT_RECORD_TYPES)) {
      // Types newer than the host's headers cannot be checked here.
      if (!defined.has(Number(n))) continue;
      assert.equal(name, defined.get(Number(n)), `type ${n}`);
      checked++;
    }
    assert.ok(checked >= 50, `only ${checked} types checked`);
  });
  it('names unknown types as auditd does', () => assert.equal(recordTypeName(1999), 'UNKNOWN[1999]'));
});

describe('parseTapLine', () => {
  describe('when audit-tap prints records (captured)', () => {
    const parsed = tap.map(parseTapLine);
    it('reads the ready and lost markers', () => {
      assert.deepEqual(parsed[0], { kind: 'ready' });
      assert.deepEqual(parsed.at(-1), { kind: 'lost' });
    });
    it('turns each record into an auditd line the log parser reads', () => {
      const lines = parsed.flatMap((p) => (p.kind === 'record' ? [p.line] : []));
      assert.ok(lines[0]!.startsWith('type=EVENT_LISTENER msg=audit(1795353899.786:3352): pid=4083'));
      const events = auditLogToEvents(lines.join('\n'));
      const bind = events.find((e) => e['evt.type'] === 'bind');
      assert.equal(bind?.['proc.name'], 'audit-tap');
      assert.equal(bind?.['proc.cmdline'], 'audit-tap');
    });
  });
  describe('when a line is something else', () => {
    it('is ignored, not thrown', () => {
      assert.equal(parseTapLine('garbage').kind, 'ignored');
      assert.equal(parseTapLine('1300 not-audit').kind, 'ignored');
    });
  });
});
