/**
 * Where a gate decision's time goes: milliseconds per step, kept in the
 * decision's record as `stagesMs` (bench/gates.ts and docs/benchmarks.md
 * read them). `stage(name)` closes the step that ran since the last call.
 */
export function stageTimer(): { stagesMs: Record<string, number>; stage(name: string): void } {
  const stagesMs: Record<string, number> = {};
  let last = performance.now();
  return {
    stagesMs,
    stage(name) {
      const now = performance.now();
      stagesMs[name] = Math.round(now - last);
      last = now;
    },
  };
}
