/**
 * Stage 1 of loading: YAML text → plain values, keeping enough of the parse
 * tree to point later errors at a line. Pure (text in, values out).
 */
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import { admissionError } from './errors.ts';

export interface YamlDocument {
  file: string;
  /** 0-based index of the document in a multi-document file. */
  index: number;
  value: unknown;
  /** 1-based line of the node at `path` (or of its nearest existing ancestor). */
  lineOf(path: readonly (string | number)[]): number;
}

/**
 * Parses every document of `text`. A syntax error throws
 * ADMISSION_YAML_INVALID naming file, line and column. Empty documents
 * (e.g. a trailing `---`) are skipped. Aliases are capped so a billion-laughs
 * file fails instead of eating memory.
 */
export function parseYamlDocuments(text: string, file: string): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  const out: YamlDocument[] = [];
  docs.forEach((doc: Document.Parsed, index) => {
    const first = doc.errors[0];
    if (first !== undefined) {
      const pos = lineCounter.linePos(first.pos[0]);
      throw admissionError('ADMISSION_YAML_INVALID', `${file}:${pos.line}:${pos.col}: YAML does not parse: ${first.message.split('\n')[0]}`, first);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw admissionError('ADMISSION_YAML_INVALID', `${file}: document ${index + 1}: YAML does not resolve: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (value === null || value === undefined) return;
    out.push({
      file,
      index,
      value,
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
          const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
          if (range !== undefined) return lineCounter.linePos(range[0]).line;
        }
        return 1;
      },
    });
  });
  return out;
}
