// What is running: the package version and, when built from a git checkout, the commit.
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      return JSON.parse(readFileSync(path.resolve(__dirname, p), 'utf8')).version as string;
    } catch {
      // try the next layout (src vs dist)
    }
  }
  return '0.0.0';
}

function readCommit(): string {
  if (process.env.PARLEY_COMMIT) return process.env.PARLEY_COMMIT;
  try {
    return execSync('git rev-parse --short HEAD', { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

export const BUILD = { version: readVersion(), commit: readCommit() };
