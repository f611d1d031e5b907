/**
 * The catalogue's completeness, checked by `npm run lint:features`:
 *
 * 1. every attack states an expected outcome for every lab profile;
 * 2. every attack is carried out on every profile by some scenario;
 * 3. every component in an attack's `caughtBy` earns the verdict in at least
 *    one scenario: on a profile that installs it and expects `blocked` or
 *    `detected`; when `caughtBy` names several components, the scenario must
 *    say which one with `Then the "<component>" reported it` (the attack
 *    step's verdict is always earned by one of `caughtBy`, see
 *    lab/attacks/outcome.ts);
 * 4. every technique has an attack.
 *
 * Scenarios are read from the compiled pickles (outline examples expanded):
 * the profile from `a lab node with the "<profile>" profile…`, the attack from
 * `the attacker carries out "<attack>"`, the earner from `the "<c>" reported it`.
 * Exemptions are explicit, each with its reason.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { AstBuilder, GherkinClassicTokenMatcher, Parser, compile } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import type { Attack, LabProfile, TechniqueName } from './schemas.ts';

export interface ScenarioRun {
  /** `file:line` of the scenario (the example row for outlines). */
  where: string;
  name: string;
  profile?: string;
  attacks: { attack: string; reportedBy: string[] }[];
}

export type CompletenessRule = 'expectation' | 'runs' | 'earned' | 'technique';

export interface Exemption {
  attack: string;
  rule: CompletenessRule;
  /** The profile (rules expectation, runs) or component (rule earned) exempted. */
  subject: string;
  reason: string;
}

export interface CompletenessProblem {
  rule: CompletenessRule;
  message: string;
}

/**
 * Kept short and reasoned; an entry that no longer exempts anything is
 * itself a problem, so the list cannot go stale.
 */
export const EXEMPTIONS: readonly Exemption[] = [
  { attack: 'host-layer-tamper', rule: 'earned', subject: 'start-gate', reason: 'the app tier (issue 14) catches the running tamper with the watchdog; a container started after it is refused by the start gate in app-image-check.feature, asserted as a refusal, not as this attack\'s verdict' },
  { attack: 'host-layer-tamper', rule: 'earned', subject: 'watchdog', reason: 'app-image-check.feature asserts it with its own step, "the watchdog reported it, naming the pod and the layer file of …", which this lint does not read' },
];

const PROFILE_STEP = /^a lab node with the "([^"]+)" profile/;
const ATTACK_STEP = /^the attacker carries out "([^"]+)"/;
const REPORTED_STEP = /^the "([^"]+)" reported it$/;

/** Reads the scenario runs of one feature file's text. */
export function scenarioRunsOf(text: string, uri: string): ScenarioRun[] {
  const newId = IdGenerator.incrementing();
  const doc = new Parser(new AstBuilder(newId), new GherkinClassicTokenMatcher()).parse(text);
  const lines = new Map<string, number>();
  const visit = (children: readonly { scenario?: { id: string; location: { line: number }; examples: readonly { tableBody: readonly { id: string; location: { line: number } }[] }[] }; rule?: { children: readonly unknown[] } }[]) => {
    for (const child of children) {
      if (child.scenario) {
        lines.set(child.scenario.id, child.scenario.location.line);
        for (const ex of child.scenario.examples) for (const row of ex.tableBody) lines.set(row.id, row.location.line);
      }
      if (child.rule) visit(child.rule.children as never);
    }
  };
  visit((doc.feature?.children ?? []) as never);
  return compile(doc, uri, newId).map((pickle) => {
    const run: ScenarioRun = { where: `${uri}:${lines.get(pickle.astNodeIds.at(-1) ?? '') ?? lines.get(pickle.astNodeIds[0] ?? '') ?? 0}`, name: pickle.name, attacks: [] };
    for (const step of pickle.steps) {
      const profile = PROFILE_STEP.exec(step.text)?.[1];
      const attack = ATTACK_STEP.exec(step.text)?.[1];
      const reported = REPORTED_STEP.exec(step.text)?.[1];
      if (profile !== undefined) run.profile = profile;
      else if (attack !== undefined) run.attacks.push({ attack, reportedBy: [] });
      else if (reported !== undefined) run.attacks.at(-1)?.reportedBy.push(reported);
    }
    return run;
  });
}

/** Every scenario run under `featuresDir`. */
export async function loadScenarioRuns(featuresDir: string, projectRoot: string): Promise<ScenarioRun[]> {
  const out: ScenarioRun[] = [];
  for (const entry of (await readdir(featuresDir, { recursive: true, withFileTypes: true })).sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))) {
    if (!entry.isFile() || !entry.name.endsWith('.feature')) continue;
    const path = join(entry.parentPath, entry.name);
    out.push(...scenarioRunsOf(await readFile(path, 'utf8'), relative(projectRoot, path)));
  }
  return out;
}

export interface CompletenessInput {
  attacks: readonly Attack[];
  profiles: readonly LabProfile[];
  techniques: readonly TechniqueName[];
  runs: readonly ScenarioRun[];
  exemptions?: readonly Exemption[];
}

/** The problems, none when the catalogue is complete. Pure. */
export function checkCompleteness(input: CompletenessInput): CompletenessProblem[] {
  const exemptions = input.exemptions ?? EXEMPTIONS;
  const used = new Set<Exemption>();
  const exempt = (attack: string, rule: CompletenessRule, subject: string) => {
    const e = exemptions.find((x) => x.attack === attack && x.rule === rule && x.subject === subject);
    if (e) used.add(e);
    return e !== undefined;
  };
  const problems: CompletenessProblem[] = [];
  const installed = new Map(input.profiles.map((p) => [p.metadata.name, new Set<string>(p.spec.components)]));
  for (const attack of input.attacks) {
    const name = attack.metadata.name;
    const runs = input.runs.filter((r) => r.attacks.some((a) => a.attack === name));
    for (const profile of installed.keys()) {
      if (attack.spec.expected[profile] === undefined && !exempt(name, 'expectation', profile)) {
        problems.push({ rule: 'expectation', message: `attack "${name}" states no expected outcome for profile "${profile}" (spec.expected.${profile})` });
      }
      if (!runs.some((r) => r.profile === profile) && !exempt(name, 'runs', profile)) {
        problems.push({ rule: 'runs', message: `attack "${name}" is carried out on profile "${profile}" by no scenario` });
      }
    }
    for (const component of attack.spec.caughtBy) {
      const earned = runs.some((r) => {
        const profile = r.profile;
        if (profile === undefined || !installed.get(profile)?.has(component)) return false;
        const expected = attack.spec.expected[profile];
        if (expected !== 'blocked' && expected !== 'detected') return false;
        return attack.spec.caughtBy.length === 1 || r.attacks.some((a) => a.attack === name && a.reportedBy.includes(component));
      });
      if (!earned && !exempt(name, 'earned', component)) {
        const hint = attack.spec.caughtBy.length > 1 ? `; caughtBy names ${attack.spec.caughtBy.length} components, so a scenario must assert \`Then the "${component}" reported it\`` : '';
        problems.push({ rule: 'earned', message: `attack "${name}": "${component}" in caughtBy earns the verdict in no scenario (a profile that installs it, expecting blocked or detected)${hint}` });
      }
    }
  }
  for (const technique of input.techniques) {
    if (!input.attacks.some((a) => a.spec.technique === technique) && !exempt('*', 'technique', technique)) {
      problems.push({ rule: 'technique', message: `technique "${technique}" has no attack in scenarios/attacks/` });
    }
  }
  for (const e of exemptions) {
    if (!used.has(e)) problems.push({ rule: e.rule, message: `exemption of attack "${e.attack}" (${e.rule}, ${e.subject}) exempts nothing any more: remove it from lab/spec/completeness.ts` });
  }
  return problems;
}
