/**
 * The registry of implemented attack techniques. Each technique lives in its
 * own file in this folder; add yours here with one line.
 */
import type { TechniqueName } from '../../spec/schemas.ts';
import type { Technique } from '../technique.ts';
import { layerFileTamper } from './layer-file-tamper.ts';

const implemented: Technique[] = [
  layerFileTamper,
];

export const TECHNIQUE_REGISTRY: ReadonlyMap<TechniqueName, Technique> = new Map(implemented.map((t) => [t.name, t]));
