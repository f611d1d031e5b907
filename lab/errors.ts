/**
 * The one error type the lab throws.
 *
 * Every component declares its own string-literal union of codes and throws
 * `LabError<ThatUnion>`; tests assert on `code`, people read `message`.
 * A message says what failed, where, what was expected and what happened.
 */
export class LabError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabError';
    this.code = code;
  }
}

/** True when `err` is a LabError, optionally with the given code. */
export function isLabError<Code extends string>(err: unknown, code?: Code): err is LabError<Code> {
  return err instanceof LabError && (code === undefined || err.code === code);
}

/** A readable one-line description of anything thrown. */
export function describeError(err: unknown): string {
  if (err instanceof LabError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.message;
  return String(err);
}
