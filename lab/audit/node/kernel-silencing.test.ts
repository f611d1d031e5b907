import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRuleList } from './kernel-rules.ts';
import { deleteArgs, isLabKey, judgeForeignAdd, suppressingRules } from './kernel-silencing.ts';

const LAB_RULE = '-a always,exit -F arch=b64 -S execve,execveat -F key=il:mx-1:4b0a212671a3';

describe('suppressingRules', () => {
  it('takes every never rule and every exclude rule, and no always rule elsewhere', () => {
    const rules = parseRuleList([LAB_RULE, '-a never,task', '-a never,exit -F arch=b64 -S execve', '-a always,exclude -F msgtype=EXECVE', '-a never,filesystem -F fstype=tmpfs', '-a always,task', '-w /etc/shadow -p r -k watch'].join('\n'));
    assert.deepEqual(suppressingRules(rules).map((r) => r.text), ['-a never,task', '-a never,exit -F arch=b64 -S execve', '-a always,exclude -F msgtype=EXECVE', '-a never,filesystem -F fstype=tmpfs']);
  });
});

describe('judgeForeignAdd', () => {
  it('is suppressing while such a rule is listed, whatever list the add named', () => {
    const judged = judgeForeignAdd(4, parseRuleList(`${LAB_RULE}\n-a never,exit -F arch=b64 -S execve`));
    assert.equal(judged.verdict, 'suppressing');
  });
  it('is unseen when no rule of another party is on that list any more', () => {
    assert.equal(judgeForeignAdd(1, parseRuleList(LAB_RULE)).verdict, 'unseen');
    assert.equal(judgeForeignAdd(4, parseRuleList(`${LAB_RULE}\n-a always,task`)).verdict, 'unseen', 'a rule on another list does not account for it');
  });
  it('is harmless when an always rule of another party is on that list', () => {
    assert.equal(judgeForeignAdd(4, parseRuleList(`${LAB_RULE}\n-a always,exit -F arch=b64 -S openat -F key=host`)).verdict, 'harmless');
  });
});

describe('deleteArgs and isLabKey', () => {
  it("turns a listed rule into auditctl's delete arguments", () => {
    assert.deepEqual(deleteArgs(parseRuleList('-a never,exit -F arch=b64 -S execve')[0]!), ['-d', 'never,exit', '-F', 'arch=b64', '-S', 'execve']);
    assert.throws(() => deleteArgs({ text: '-w /etc -p r', keys: [] }), /not an auditctl -l rule line/);
  });
  it('knows a lab key, quoted or not', () => {
    assert.equal(isLabKey('"il:mx-1:4b0a212671a3"'), true);
    assert.equal(isLabKey('il:mx-1:'), true);
    assert.equal(isLabKey('(null)'), false);
    assert.equal(isLabKey(undefined), false);
  });
});
