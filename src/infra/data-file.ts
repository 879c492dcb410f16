// Reference data (area codes, time zones, keyword lists) lives in JSON in a `data/` folder beside the
// module that reads it. This reads such a file once, validates it, and refuses to go on with a message
// naming the file when it is missing or wrong: a typo in a table must stop the process at start, not
// surface as a wrong answer per message.
//
// Found from the source tree (tests) and from the build: `npm run build` copies `src/**/data/*.json`
// into dist beside the compiled modules (tsc copies no JSON it is not asked to import). A bare
// `tsc -p tsconfig.build.json` skips that copy, so a module running from dist/ inside a checkout falls
// back to the same path under src/.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod/v4';

export class DataFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileError';
  }
}

/** Reads `data/<name>` of the module whose `__dirname` is `moduleDir` and returns it parsed by `schema`. */
export function loadDataFile<S extends z.ZodType>(moduleDir: string, name: string, schema: S): z.output<S> {
  const file = locate(moduleDir, name);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataFileError(`data file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => {
      // A bad record key says only "Invalid key in record"; the key's own issues say why.
      const why = i.code === 'invalid_key' ? i.issues.map((k) => `key ${k.message}`).join(', ') : i.message;
      return `${i.path.length ? i.path.join('.') : '(root)'}: ${why}`;
    });
    const more = parsed.error.issues.length > 5 ? `; and ${parsed.error.issues.length - 5} more` : '';
    throw new DataFileError(`data file ${file}: ${issues.join('; ')}${more}`);
  }
  return parsed.data;
}

function locate(moduleDir: string, name: string): string {
  const candidates = [path.join(moduleDir, 'data', name)];
  const root = packageRoot(moduleDir);
  const fromRoot = root === undefined ? undefined : path.relative(root, moduleDir).split(path.sep);
  if (root !== undefined && fromRoot?.[0] === 'dist')
    candidates.push(path.join(root, ...fromRoot.slice(1), 'data', name));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new DataFileError(`data file ${name} not found; looked for ${candidates.join(' and ')}`);
  return found;
}

function packageRoot(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}
