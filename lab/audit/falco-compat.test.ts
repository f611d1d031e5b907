/**
 * The differential corpus: rules files and events with the verdict Falco
 * gives, each case citing where the expectation comes from. Rules texts are
 * written for these tests (equivalent to the cited cases, not copied).
 *
 * Citations: falco = falcosecurity/falco at 13074749 (unit_tests/engine/
 * test_rule_loader.cpp test names, userspace/engine/*); plugins =
 * falcosecurity/plugins at 0b3cbd8d; libs = falcosecurity/libs at 48dfd53c;
 * docs = falco.org/docs/concepts/rules/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AuditEngine, compileRuleSet } from './engine.ts';
import { RulesLoadError, type AuditErrorCode } from './errors.ts';
import type { AuditEvent } from './fields.ts';

type Verdict =
  | { load: true; warn?: string[]; noWarn?: string[]; rules?: number }
  | { error: AuditErrorCode; falco: string | undefined; message: RegExp; line: number };

interface Case {
  name: string;
  cite: string;
  files: string[];
  verdict: Verdict;
  events?: { event: AuditEvent; fires: string[] }[];
}

const rule = (name: string, condition: string, extra = '', output = 'p=%proc.name') =>
  `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: ${output}\n  priority: INFO\n${extra}`;

const CASES: Case[] = [
  // ---- unknown fields: errors, as Falco
  {
    name: 'a misspelt syscall field is refused',
    cite: 'falco userspace/engine/rule_loader_compiler.cpp compile_condition (LOAD_ERR_COMPILE_CONDITION unless skip-if-unknown-filter); docs "Rules: condition syntax"',
    files: [rule('R', 'evt.type = execve and proc.nmae = bash')],
    verdict: { error: 'UNKNOWN_FIELD', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /condition at 1:23 \(offset 22\): field 'proc.nmae' does not exist for source 'syscall'/, line: 3 },
  },
  {
    name: 'a misspelt k8s_audit field is refused',
    cite: 'plugins plugins/k8saudit/pkg/k8saudit/fields.go (the source\'s field list); falco rule_loader_compiler.cpp compile_condition',
    files: [rule('R', 'ka.verbb = create', '  source: k8s_audit\n')],
    verdict: { error: 'UNKNOWN_FIELD', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /field 'ka.verbb' does not exist for source 'k8s_audit'/, line: 3 },
  },
  {
    name: 'an unknown field in an exception is refused',
    cite: 'falco userspace/engine/rule_loader_collector.cpp validate_exception_info ("is not a supported filter field")',
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.nmae]\n      values: [[bash]]\n')],
    verdict: { error: 'UNKNOWN_FIELD', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /'proc.nmae'.*in exception 'e'/, line: 7 },
  },
  {
    name: 'an unknown field in an output is refused',
    cite: 'falco rule_loader_compiler.cpp compile_rule_infos (output formatter; LOAD_ERR_COMPILE_OUTPUT unless skip-if-unknown-filter)',
    files: [rule('R', 'evt.type = execve', '', 'p=%proc.nmae')],
    verdict: { error: 'UNKNOWN_FIELD', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /'proc.nmae'.*in the output/, line: 4 },
  },
  {
    name: 'an unknown field in a macro is reported where the macro uses it',
    cite: 'falco rule_loader_compiler.cpp: macros are resolved into the rule before compiling',
    files: ['- macro: m\n  condition: proc.nmae = x\n' + rule('R', 'evt.type = execve and m')],
    verdict: { error: 'UNKNOWN_FIELD', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /macro 'm'/, line: 2 },
  },
  {
    name: 'skip-if-unknown-filter turns the error into a warning and skips the rule',
    cite: 'falco rule_loader_compiler.cpp compile_condition (err_is_unknown_type_or_field && allow_unknown_fields → LOAD_UNKNOWN_FILTER)',
    files: [rule('R', 'evt.type = execve and proc.nmae = bash', '  skip-if-unknown-filter: true\n') + rule('S', 'evt.type = execve')],
    verdict: { load: true, warn: ['LOAD_UNKNOWN_FILTER'], rules: 1 },
  },
  {
    name: 'a known Falco field the lab does not produce loads and evaluates as absent',
    cite: 'libs userspace/libsinsp/sinsp_filtercheck_fd.cpp (fd.sip exists); a check on a field without a value is false',
    files: [rule('R', 'evt.type = connect and not fd.sip = 10.0.0.1')],
    verdict: { load: true },
    events: [{ event: { 'evt.type': 'connect' }, fires: ['R'] }],
  },
  // ---- warnings where Falco warns
  {
    name: 'unknown keys are warned about and ignored (rule, list, macro)',
    cite: 'falco test_rule_loader.cpp rule_unknown_key, list_unknown_key, macro_unknown_key, list_cross_type_key_priority; rule_loader_reader.cpp warn_unknown_keys',
    files: ['- list: l\n  items: [a]\n  priority: INFO\n- macro: m\n  condition: proc.name in (l)\n  typo_field: x\n' + rule('R', 'evt.type = execve and m', '  typo_field: x\n')],
    verdict: { load: true, warn: ['LOAD_UNKNOWN_KEY'] },
    events: [{ event: { 'evt.type': 'execve', 'proc.name': 'a' }, fires: ['R'] }],
  },
  {
    name: 'an unknown top-level item is warned about and ignored',
    cite: 'falco rule_loader_reader.cpp read_item ("Unknown top level item", LOAD_UNKNOWN_ITEM)',
    files: [readFileSync(new URL('./fixtures/warn/unknown-top-level.yaml', import.meta.url), 'utf8')],
    verdict: { load: true, warn: ['LOAD_UNKNOWN_ITEM'], rules: 0 },
  },
  {
    name: 'a macro name outside the identifier pattern is a warning',
    cite: 'falco test_rule_loader.cpp macro_name_invalid; rule_loader_reader.cpp (LOAD_INVALID_MACRO_NAME)',
    files: ['- macro: 1bad-name\n  condition: evt.type = execve\n' + rule('R', 'evt.type = execve')],
    verdict: { load: true, warn: ['LOAD_INVALID_MACRO_NAME'] },
  },
  {
    name: 'a list name outside the bare-string pattern is a warning',
    cite: 'falco test_rule_loader.cpp list_name_invalid; rule_loader_reader.cpp (LOAD_INVALID_LIST_NAME)',
    files: ['- list: "bad list"\n  items: [a]\n' + rule('R', 'evt.type = execve')],
    verdict: { load: true, warn: ['LOAD_INVALID_LIST_NAME'] },
  },
  {
    name: 'appending an exception with no values is a warning',
    cite: 'falco test_rule_loader.cpp exceptions_append_no_values, exceptions_override_no_values (LOAD_APPEND_NO_VALUES)',
    files: [
      rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [bash]\n'),
      '- rule: R\n  exceptions:\n    - name: e\n  override:\n    exceptions: append\n',
    ],
    verdict: { load: true, warn: ['LOAD_APPEND_NO_VALUES'] },
    events: [
      { event: { 'evt.type': 'execve', 'proc.name': 'bash' }, fires: [] },
      { event: { 'evt.type': 'execve', 'proc.name': 'sh' }, fires: ['R'] },
    ],
  },
  {
    name: 'duplicate exception names are a warning and both apply',
    cite: 'falco test_rule_loader.cpp exceptions_names_not_unique (LOAD_EXCEPTION_NAME_NOT_UNIQUE)',
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [bash]\n    - name: e\n      fields: [proc.pname]\n      values: [sshd]\n')],
    verdict: { load: true, warn: ['LOAD_EXCEPTION_NAME_NOT_UNIQUE'] },
    events: [
      { event: { 'evt.type': 'execve', 'proc.name': 'bash', 'proc.pname': 'x' }, fires: [] },
      { event: { 'evt.type': 'execve', 'proc.name': 'sh', 'proc.pname': 'sshd' }, fires: [] },
      { event: { 'evt.type': 'execve', 'proc.name': 'sh', 'proc.pname': 'x' }, fires: ['R'] },
    ],
  },
  {
    name: 'a condition with no evt.type restriction warns',
    cite: 'falco test_rule_loader.cpp evttype_warning_for_broad_condition; rule_loader_compiler.cpp (LOAD_NO_EVTTYPE)',
    files: [rule('R', 'proc.name = cat')],
    verdict: { load: true, warn: ['LOAD_NO_EVTTYPE'] },
    events: [{ event: { 'evt.type': 'openat', 'proc.name': 'cat' }, fires: ['R'] }],
  },
  {
    name: 'condition: true is the macro reference "true", which is undefined',
    cite: 'libs userspace/libsinsp/filter/parser.h (no boolean literal: an Identifier is a macro); falco filter_macro_resolver.cpp ("Undefined macro"); yaml-cpp reads the YAML boolean as the text "true"',
    files: [rule('R', 'true')],
    verdict: { error: 'UNKNOWN_MACRO', falco: 'LOAD_ERR_COMPILE_CONDITION', message: /undefined macro 'true'/, line: 3 },
  },
  {
    name: 'warn_evttypes: false silences the evt.type warning',
    cite: 'falco test_rule_loader.cpp evttype_warning_disabled_by_warn_evttypes',
    files: [rule('R', 'proc.name = cat', '  warn_evttypes: false\n')],
    verdict: { load: true, noWarn: ['LOAD_NO_EVTTYPE'] },
  },
  {
    name: 'a narrow or unsatisfiable condition does not warn about evt.type',
    cite: 'falco test_rule_loader.cpp no_evttype_warning_for_narrow_condition, no_evttype_warning_for_unsatisfiable_condition',
    files: [rule('R', 'evt.type = close') + rule('S', 'evt.num = 0')],
    verdict: { load: true, noWarn: ['LOAD_NO_EVTTYPE'] },
  },
  {
    name: 'evt.dir is deprecated, in a condition or an output',
    cite: 'falco test_rule_loader.cpp deprecated_field_in_output, deprecated_evt_dir_folded_scalar_condition_snippet (LOAD_DEPRECATED_ITEM)',
    files: [rule('R', 'evt.type = close and evt.dir = <', '', 'd=%evt.dir')],
    verdict: { load: true, warn: ['LOAD_DEPRECATED_ITEM'] },
  },
  {
    name: 'comparing with <NA> warns',
    cite: 'falco userspace/engine/filter_warning_resolver.cpp (LOAD_UNSAFE_NA_CHECK)',
    files: [rule('R', 'evt.type = execve and proc.pname = "<NA>"')],
    verdict: { load: true, warn: ['LOAD_UNSAFE_NA_CHECK'] },
  },
  {
    name: 'an unused macro or list is a warning',
    cite: 'falco rule_loader_compiler.cpp compile (LOAD_UNUSED_MACRO, LOAD_UNUSED_LIST); test_rule_loader.cpp list_value_with_escaping ("a warning for the unused list")',
    files: ['- list: spare\n  items: [a]\n- list: used\n  items: [b]\n- macro: idle\n  condition: proc.name in (used)\n' + rule('R', 'evt.type = execve')],
    verdict: { load: true, warn: ['list "spare": LOAD_UNUSED_LIST', 'macro "idle": LOAD_UNUSED_MACRO'], noWarn: ['list "used"'] },
  },
  {
    name: 'legacy append: true and enabled-only rules load with a deprecation warning',
    cite: 'falco test_rule_loader.cpp rule_append, rule_enabled_warning',
    files: [rule('R', 'evt.type = execve'), '- rule: R\n  condition: and proc.name = sh\n  append: true\n- rule: R\n  enabled: false\n'],
    verdict: { load: true, warn: ["'append: true' is deprecated", "only 'enabled' is deprecated"] },
  },
  // ---- errors where Falco errors
  {
    name: 'a rule redefined with another source is refused',
    cite: 'falco test_rule_loader.cpp redefine_rule_different_source',
    files: [rule('R', 'evt.type = execve') + rule('R', 'ka.verb = create', '  source: k8s_audit\n')],
    verdict: { error: 'RULES_SCHEMA', falco: 'LOAD_ERR_VALIDATE', message: /source 'k8s_audit'.*source 'syscall'/, line: 6 },
  },
  {
    name: 'appending to a macro before it is defined is refused',
    cite: 'falco test_rule_loader.cpp macro_override_append_before_macro_definition, macro_append_before_macro_definition',
    files: ['- macro: m\n  condition: or proc.name = sh\n  override:\n    condition: append\n- macro: m\n  condition: proc.name = bash\n'],
    verdict: { error: 'NO_PREVIOUS', falco: 'LOAD_ERR_VALIDATE', message: /cannot append to macro 'm'/, line: 1 },
  },
  {
    name: 'replacing a list or macro before it is defined defines it',
    cite: 'falco test_rule_loader.cpp list_override_replace_before_list_definition, macro_override_replace_before_macro_definition',
    files: ['- list: l\n  items: [sh]\n  override:\n    items: replace\n- macro: m\n  condition: proc.name in (l)\n  override:\n    condition: replace\n' + rule('R', 'evt.type = execve and m')],
    verdict: { load: true },
    events: [{ event: { 'evt.type': 'execve', 'proc.name': 'sh' }, fires: ['R'] }],
  },
  {
    name: 'appending to a key that cannot be appended to is refused',
    cite: "falco test_rule_loader.cpp rule_incorrect_override_type (\"Key 'priority' cannot be appended to, use 'replace' instead\")",
    files: [rule('R', 'evt.type = execve'), '- rule: R\n  priority: ERROR\n  override:\n    priority: append\n'],
    verdict: { error: 'RULES_SCHEMA', falco: 'LOAD_ERR_YAML_VALIDATE', message: /key 'priority' cannot be appended to, use 'replace' instead/, line: 4 },
  },
  {
    name: 'an unparsable required_engine_version is refused',
    cite: 'falco test_rule_loader.cpp required_engine_version_invalid',
    files: ['- required_engine_version: seven\n'],
    verdict: { error: 'ENGINE_VERSION', falco: 'LOAD_ERR_VALIDATE', message: /required_engine_version should be a number or x.y.z/, line: 1 },
  },
  {
    name: 'exception fields and comps of different lengths are refused',
    cite: 'falco rule_loader_collector.cpp validate_exception_info ("Fields and comps lists must have equal length")',
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.name, proc.pname]\n      comps: [=]\n      values: [[a, b]]\n')],
    verdict: { error: 'RULES_SCHEMA', falco: 'LOAD_ERR_VALIDATE', message: /same length/, line: 7 },
  },
  // ---- string operator modifiers (Falco 0.44, libs 0.25): newer than the 0.42 target, added because they are cheap
  {
    name: 'an exception with startswith oneof excepts a value starting with exactly one prefix',
    cite: 'falco test_rule_loader.cpp exceptions_modifier_op_startswith_oneof; libs sinsp_filtercheck.cpp compare_rhs_with_mod (Falco 0.44)',
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [startswith oneof]\n      values:\n        - [[sshd, sudo, systemd]]\n')],
    verdict: { load: true },
    events: [
      { event: { 'evt.type': 'execve', 'proc.name': 'sshd-session' }, fires: [] },
      { event: { 'evt.type': 'execve', 'proc.name': 'bash' }, fires: ['R'] },
    ],
  },
  {
    name: 'contains allof needs every value; a scalar value is wrapped in a list',
    cite: 'falco test_rule_loader.cpp exceptions_modifier_op_contains_allof, exceptions_modifier_op_scalar_value_parenthesised',
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.cmdline, proc.name]\n      comps: [contains allof, startswith oneof]\n      values:\n        - [[curl, bash], sh]\n')],
    verdict: { load: true },
    events: [
      { event: { 'evt.type': 'execve', 'proc.cmdline': 'sh -c curl x | bash', 'proc.name': 'sh' }, fires: [] },
      { event: { 'evt.type': 'execve', 'proc.cmdline': 'sh -c curl x', 'proc.name': 'sh' }, fires: ['R'] },
    ],
  },
  {
    name: 'a modifier on an unknown or non-string operator is refused',
    cite: "falco test_rule_loader.cpp exceptions_modifier_op_invalid_base_operator, exceptions_modifier_op_list_op_with_modifier, exceptions_modifier_op_numeric_op_with_modifier ('in oneof', '>= oneof')",
    files: [rule('R', 'evt.type = execve', '  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [in oneof]\n      values:\n        - [[a]]\n')],
    verdict: { error: 'BAD_OPERATOR', falco: 'LOAD_ERR_VALIDATE', message: /'in oneof' is not a supported comparison operator/, line: 7 },
  },
  {
    name: 'a condition takes a modifier only before a list; otherwise oneof is a value',
    cite: 'libs userspace/libsinsp/filter/parser.cpp parse_condition (lex_str_op_modifier, list_value_follows, bool_keyword_follows)',
    files: [rule('R', 'evt.type = execve and (proc.name endswith anyof (sh, ash) or proc.pname = oneof)')],
    verdict: { load: true },
    events: [
      { event: { 'evt.type': 'execve', 'proc.name': 'dash', 'proc.pname': 'x' }, fires: ['R'] },
      { event: { 'evt.type': 'execve', 'proc.name': 'cat', 'proc.pname': 'oneof' }, fires: ['R'] },
      { event: { 'evt.type': 'execve', 'proc.name': 'cat', 'proc.pname': 'x' }, fires: [] },
    ],
  },
  // ---- evaluation
  {
    name: 'container.mount.dest[/proc*] finds a /proc mount, and /root* a /root one',
    cite: 'plugins plugins/container/src/container_info.cpp mount_by_source (KEY searched as a pattern); falco-sandbox_rules.yaml macro sensitive_mount',
    files: [rule('R', 'evt.type = container and (container.mount.dest[/proc*] = /host/proc or container.mount.dest[/root*] exists)')],
    verdict: { load: true },
    events: [
      { event: { 'evt.type': 'container', 'container.mount.source': ['/proc'], 'container.mount.dest': ['/host/proc'] }, fires: ['R'] },
      { event: { 'evt.type': 'container', 'container.mount.source': ['/root/.ssh'], 'container.mount.dest': ['/keys'] }, fires: ['R'] },
      { event: { 'evt.type': 'container', 'container.mount.source': ['/data'], 'container.mount.dest': ['/data'] }, fires: [] },
    ],
  },
  {
    name: 'a field without a value fails every comparison, and not of it holds',
    cite: 'libs userspace/libsinsp/sinsp_filtercheck.cpp compare (no extracted value → false); falco filter_warning_resolver.cpp (why <NA> checks are unsafe)',
    files: [rule('R', 'evt.type = execve and not proc.pname in ("<NA>", "N/A")')],
    verdict: { load: true, warn: ['LOAD_UNSAFE_NA_CHECK'] },
    events: [{ event: { 'evt.type': 'execve' }, fires: ['R'] }],
  },
];

describe('Falco compatibility (differential corpus)', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      const sources = c.files.map((content, i) => ({ name: c.files.length === 1 ? 'rules.yaml' : `rules-${i + 1}.yaml`, content }));
      const v = c.verdict;
      if ('error' in v) {
        it(`is refused with ${v.error}, naming file, item and position (${c.cite})`, () => {
          let err: unknown;
          try {
            compileRuleSet(sources);
          } catch (e) {
            err = e;
          }
          assert.ok(err instanceof RulesLoadError, `expected a refusal, got ${String(err)}`);
          assert.equal(err.code, v.error, err.message);
          assert.equal(err.falcoCode, v.falco, err.message);
          assert.equal(err.location.line, v.line, err.message);
          assert.ok(err.location.item ?? err.location.key, err.message);
          assert.match(err.message, /^rules(-\d)?\.yaml:\d+:\d+: /);
          assert.match(err.message, v.message);
        });
        return;
      }
      it(`loads (${c.cite})`, () => {
        const set = compileRuleSet(sources);
        for (const w of v.warn ?? []) {
          const hit = set.warnings.find((x) => x.includes(w));
          assert.ok(hit, `no warning ${w} in:\n${set.warnings.join('\n')}`);
          assert.match(hit, /^rules(-\d)?\.yaml:\d+:\d+/, 'a warning names file and position');
        }
        for (const w of v.noWarn ?? []) assert.ok(!set.warnings.some((x) => x.includes(w)), set.warnings.join('\n'));
        if (v.rules !== undefined) assert.equal(set.rules.length, v.rules);
      });
      for (const [i, e] of (c.events ?? []).entries()) {
        it(`event ${i + 1} fires ${e.fires.length === 0 ? 'nothing' : e.fires.join(', ')}`, () => {
          const engine = new AuditEngine({ hostname: 'h' });
          engine.load(sources);
          assert.deepEqual(engine.evaluate(e.event).map((a) => a.rule), e.fires);
        });
      }
    });
  }
});
