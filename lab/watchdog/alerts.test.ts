import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alertsSince, formatAlert, parseJsonLines, type WatchdogAlert } from './alerts.ts';

const alert = (detectedAt: number): WatchdogAlert => ({
  time: new Date(detectedAt).toISOString(),
  component: 'watchdog',
  kind: 'mount',
  container: 'a'.repeat(64),
  containerName: 'system-agent',
  pod: 'system-agent',
  namespace: 'kube-system',
  mode: 'enforce',
  action: 'stop',
  reasons: ['tmpfs-over-etc'],
  reason: 'a tmpfs over /etc',
  notify: 'fanotify-mnt',
  trigger: 'fanotify',
  detectedAt,
  watchdog: { pid: 1, startedAt: '' },
});

describe('parseJsonLines', () => {
  describe('when the last line is still being written', () => {
    it('leaves it for the next read', () => {
      assert.deepEqual(parseJsonLines('{"a":1}\n{"a":2}\n{"a":', 'log'), [{ a: 1 }, { a: 2 }]);
    });
  });
  describe('when a whole line is not JSON', () => {
    it('throws WATCHDOG_ALERT_LOG_INVALID with the file and line', () => {
      assert.throws(() => parseJsonLines('{"a":1}\nnot json\n', 'alerts.jsonl'), { code: 'WATCHDOG_ALERT_LOG_INVALID', message: /alerts\.jsonl:2: not a JSON line/ });
    });
  });
});

describe('alertsSince', () => {
  describe('when given a time', () => {
    it('keeps the alerts detected at or after it', () => {
      assert.deepEqual(alertsSince([alert(1000), alert(2000), alert(3000)], new Date(2000)).map((a) => a.detectedAt), [2000, 3000]);
    });
  });
});

describe('formatAlert', () => {
  describe('when the container was stopped', () => {
    it('says so, with namespace/pod/container', () => {
      assert.match(formatAlert(alert(0)), /mount tmpfs-over-etc kube-system\/system-agent\/system-agent \[enforce, stopped\]: a tmpfs over \/etc$/);
    });
  });
});
