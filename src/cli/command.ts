// A CLI command: a name, a line of help, and a run function returning the exit code.
import { parseArgs, ParseArgsConfig } from 'node:util';

export interface CliCommand {
  name: string;
  summary: string;
  usage?: string;
  run(args: string[]): Promise<number>;
}

export class UsageError extends Error {}

/** Parses options strictly; an unknown option is a usage error naming it. */
export function options<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], spec: T) {
  try {
    return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}
