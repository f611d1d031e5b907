/**
 * Parameter types: quoted names in steps become domain objects. An unknown
 * name fails with the list of known ones.
 */
import { defineParameterType } from '@cucumber/cucumber';
import { getAttack, getProfile, getWorkload } from '../../lab/spec/loader.ts';
import { OUTCOMES, type Outcome } from '../../lab/spec/schemas.ts';
import { labState } from './state.ts';

defineParameterType({
  name: 'profile',
  regexp: /"([^"]*)"/,
  transformer: (name: string) => getProfile(labState.catalog(), name),
});

defineParameterType({
  name: 'workload',
  regexp: /"([^"]*)"/,
  transformer: (name: string) => getWorkload(labState.catalog(), name),
});

defineParameterType({
  name: 'attack',
  regexp: /"([^"]*)"/,
  transformer: (name: string) => getAttack(labState.catalog(), name),
});

defineParameterType({
  name: 'outcome',
  regexp: new RegExp(OUTCOMES.join('|')),
  transformer: (name: string) => name as Outcome,
});

/** A node gate by the name the docs use: `pull gate` or `start gate`. */
defineParameterType({
  name: 'gate',
  regexp: /pull gate|start gate/,
  transformer: (name: string) => name as 'pull gate' | 'start gate',
});
