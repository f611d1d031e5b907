/**
 * Every step definition and every feature step, as cucumber-js itself
 * resolves them: one dry run in this process through cucumber's API (no
 * step runs, no lab starts). The feature lint reports undefined and
 * ambiguous steps from it, and docs/steps.md is generated from it.
 */
import { loadConfiguration, runCucumber } from '@cucumber/cucumber/api';
import type { Envelope, GherkinDocument } from '@cucumber/messages';
import { Writable } from 'node:stream';
import { closest } from '../lab/suggest.ts';
import { CATALOG_ONLY_ENV } from '../lab/start.ts';

export interface StepDefinitionInfo {
  id: string;
  /** The cucumber expression or regular expression source. */
  pattern: string;
  uri: string;
  line: number;
}

export interface FeatureStep {
  uri: string;
  line: number;
  keyword: string;
  text: string;
  /** Definitions that match the text: none = undefined, several = ambiguous. */
  definitionIds: string[];
}

export interface StepCatalog {
  definitions: StepDefinitionInfo[];
  steps: FeatureStep[];
  /** Scenarios (outline example rows each) the arguments select. */
  testCases: number;
}

function gherkinSteps(doc: GherkinDocument): Map<string, { line: number; keyword: string }> {
  const out = new Map<string, { line: number; keyword: string }>();
  const visit = (children: readonly { background?: { steps: readonly { id: string; location: { line: number }; keyword: string }[] }; scenario?: { steps: readonly { id: string; location: { line: number }; keyword: string }[] }; rule?: { children: readonly unknown[] } }[]) => {
    for (const child of children) {
      for (const step of [...(child.background?.steps ?? []), ...(child.scenario?.steps ?? [])]) out.set(step.id, { line: step.location.line, keyword: step.keyword.trim() });
      if (child.rule) visit(child.rule.children as Parameters<typeof visit>[0]);
    }
  };
  visit(doc.feature?.children ?? []);
  return out;
}

/** Dry-runs the given cucumber profile (and extra argv, e.g. feature paths) and collects what it resolved. */
export async function loadStepCatalog(cwd: string, profile = 'lint', provided: string[] = []): Promise<StepCatalog> {
  const { runConfiguration } = await loadConfiguration({ profiles: [profile], provided }, { cwd });
  runConfiguration.runtime.dryRun = true;
  runConfiguration.formats = { stdout: 'summary', files: {}, publish: false, options: {} };
  const astSteps = new Map<string, { uri: string; line: number; keyword: string }>();
  const pickleSteps = new Map<string, { uri: string; text: string; astNodeId: string }>();
  const definitions: StepDefinitionInfo[] = [];
  const steps: FeatureStep[] = [];
  let testCases = 0;
  // The summary formatter needs a real stream; what it would print is reported by the caller instead.
  const silentStdout = new Writable({ write: (_chunk, _enc, done) => done() });
  // Loading the support code must not take this process's Ctrl-C (steps/support/hooks.ts): a dry run
  // starts no lab. Only for the load: a cucumber-js this process starts later must take it.
  process.env[CATALOG_ONLY_ENV] = '1';
  try {
    await runCucumber(runConfiguration, { cwd, stdout: silentStdout, stderr: process.stderr }, (e: Envelope) => {
      if (e.gherkinDocument?.uri) for (const [id, s] of gherkinSteps(e.gherkinDocument)) astSteps.set(id, { uri: e.gherkinDocument.uri, ...s });
      if (e.pickle) for (const s of e.pickle.steps) pickleSteps.set(s.id, { uri: e.pickle.uri, text: s.text, astNodeId: s.astNodeIds[0] ?? '' });
      if (e.stepDefinition) {
        const d = e.stepDefinition;
        definitions.push({ id: d.id, pattern: d.pattern.source, uri: d.sourceReference.uri ?? '', line: d.sourceReference.location?.line ?? 0 });
      }
      if (e.testCase) {
        testCases++;
        for (const ts of e.testCase.testSteps) {
          if (!ts.pickleStepId) continue;
          const p = pickleSteps.get(ts.pickleStepId);
          const ast = p && astSteps.get(p.astNodeId);
          if (!p || !ast) continue;
          steps.push({ uri: p.uri, line: ast.line, keyword: ast.keyword, text: p.text, definitionIds: [...(ts.stepDefinitionIds ?? [])] });
        }
      }
    });
  } finally {
    delete process.env[CATALOG_ONLY_ENV];
  }
  return { definitions, steps, testCases };
}

/** Quoted arguments and `{type}` parameters both become one placeholder, so a step is compared with a pattern by its words. */
function shape(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\{[a-zA-Z]*\}/g, '"…"');
}

/** `features/x.feature:12: undefined step "When …"; closest defined steps: …` */
export function describeUndefined(step: FeatureStep, definitions: readonly StepDefinitionInfo[]): string {
  const near = closest(shape(step.text), definitions.map((d) => shape(d.pattern)), { limit: 3, maxRatio: 0.45 });
  const byShape = new Map(definitions.map((d) => [shape(d.pattern), d] as const));
  const hint = near.length
    ? `; closest defined steps: ${near.map((s) => { const d = byShape.get(s)!; return `"${d.pattern}" (${d.uri}:${d.line})`; }).join(', ')}`
    : '; no defined step is close: see docs/steps.md';
  return `${step.uri}:${step.line}: undefined step "${step.keyword} ${step.text}"${hint}`;
}

export function describeAmbiguous(step: FeatureStep, definitions: readonly StepDefinitionInfo[]): string {
  const matching = definitions.filter((d) => step.definitionIds.includes(d.id));
  return `${step.uri}:${step.line}: ambiguous step "${step.keyword} ${step.text}" matches ${matching.map((d) => `"${d.pattern}" (${d.uri}:${d.line})`).join(' and ')}`;
}
