import { LabError } from '../errors.ts';

export type WatchdogErrorCode =
  | 'WATCHDOG_CONFIG_INVALID'
  | 'WATCHDOG_CONFIG_MISSING'
  | 'WATCHDOG_NOT_INSTALLED'
  | 'WATCHDOG_START_FAILED'
  | 'WATCHDOG_ALERT_LOG_INVALID'
  | 'WATCHDOG_BUDGET_INVALID'
  | 'WATCHDOG_LAB_NOT_FOUND'
  | 'WATCHDOG_PINS_INVALID';

export function watchdogError(code: WatchdogErrorCode, message: string, cause?: unknown): LabError<WatchdogErrorCode> {
  return new LabError<WatchdogErrorCode>(code, message, { cause });
}
