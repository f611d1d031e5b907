/**
 * Process-wide harness state: the scenario catalog (loaded once) and the
 * attack outcomes of the run, for the summary table.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../../lab/spec/loader.ts';
import type { ComponentName, Outcome } from '../../lab/spec/schemas.ts';
import type { Verdict } from '../../lab/attacks/index.ts';
import type { NodeStatus } from '../../lab/node/index.ts';

export const PROJECT_ROOT = join(import.meta.dirname, '../..');
/** This run's results directory (lab/cli/run-dir.ts), or reports/ when cucumber-js runs by hand. */
export const REPORTS_DIR = process.env.INTEGRITY_LAB_RUN_DIR ?? join(PROJECT_ROOT, 'reports');
export const OUTCOMES_FILE = join(REPORTS_DIR, 'outcomes.jsonl');

export interface OutcomeRecord {
  attack: string;
  profile: string;
  outcome: Verdict;
  expected?: Outcome | undefined;
  scenario: string;
  /** The component that earned a blocked or detected verdict. */
  earnedBy?: ComponentName | undefined;
}

let loaded: Catalog | undefined;
let lastStatus: (NodeStatus & { image?: string }) | undefined;
const profiles = new Set<string>();

export const labState = {
  setCatalog(catalog: Catalog): void {
    loaded = catalog;
  },
  catalog(): Catalog {
    if (!loaded) throw new Error('the scenario catalog is not loaded (the BeforeAll hook did not run)');
    return loaded;
  },
  noteStatus(status: NodeStatus & { image?: string }): void {
    lastStatus = status;
    profiles.add(status.profile);
  },
  lastStatus(): (NodeStatus & { image?: string }) | undefined {
    return lastStatus;
  },
  profilesSeen(): ReadonlySet<string> {
    return profiles;
  },
  /** Lists a lab kept for a failed scenario in kept-labs.txt, which the conformance runner prints. */
  noteKeptLab(labId: string, scenario: string): void {
    mkdirSync(REPORTS_DIR, { recursive: true });
    appendFileSync(join(REPORTS_DIR, 'kept-labs.txt'), `${labId}\t${scenario}\n`);
  },
  /** Appends to outcomes.jsonl in the run directory, which the conformance runner turns into the summary table. */
  recordOutcome(record: OutcomeRecord): void {
    mkdirSync(REPORTS_DIR, { recursive: true });
    appendFileSync(OUTCOMES_FILE, JSON.stringify(record) + '\n');
  },
};
