/**
 * Progress events: library code emits them, the CLI and the cucumber hooks
 * decide how to show them. The vocabulary is small and fixed on purpose.
 */
export type Phase = 'PREFLIGHT' | 'BUILD' | 'START' | 'APPLY' | 'ATTACK' | 'ASSERT' | 'CLEANUP';
export type Status = 'RUN' | 'OK' | 'ERROR' | 'DONE' | 'INFO' | 'WARN';

export interface ProgressEvent {
  phase: Phase;
  status: Status;
  message: string;
  /** Milliseconds since the emitting operation started, when it has a duration. */
  elapsedMs?: number;
}

export type ProgressListener = (event: ProgressEvent) => void;

/** A listener that drops everything: the default for library calls. */
export const silent: ProgressListener = () => {};

/** Formats an event as one terminal line: `BUILD   OK    node image ready (41.2 s)`. */
export function formatProgress(event: ProgressEvent): string {
  const took = event.elapsedMs === undefined ? '' : ` (${(event.elapsedMs / 1000).toFixed(1)} s)`;
  return `${event.phase.padEnd(9)} ${event.status.padEnd(5)} ${event.message}${took}`;
}

/** A listener that writes formatted lines to stderr, leaving stdout to reports. */
export const toStderr: ProgressListener = (event) => {
  process.stderr.write(formatProgress(event) + '\n');
};

/** Runs `work`, emitting RUN before and OK or ERROR after, with the time it took. */
export async function step<T>(
  listener: ProgressListener,
  phase: Phase,
  message: string,
  work: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  listener({ phase, status: 'RUN', message });
  try {
    const result = await work();
    listener({ phase, status: 'OK', message, elapsedMs: performance.now() - started });
    return result;
  } catch (err) {
    listener({ phase, status: 'ERROR', message, elapsedMs: performance.now() - started });
    throw err;
  }
}
