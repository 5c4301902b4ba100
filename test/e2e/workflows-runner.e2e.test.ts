// The runner emulator the workflow tests stand on: act, as test/tools/act.sh builds it, must show
// a failing step's whole output, as GitHub does, since the tests read a refusal's reason there.
import { describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commitAll, git, runAct } from '../support/act.js';

/** A repository whose one job prints `lines` numbered lines and an ::error line, then fails. */
function failingRepository(lines: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-runner-'));
  mkdirSync(path.join(dir, '.github', 'workflows'), { recursive: true });
  writeFileSync(
    path.join(dir, '.github', 'workflows', 'fail.yml'),
    [
      'on: push',
      'permissions: {}',
      'jobs:',
      '  fail:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: |',
      `          seq 1 ${lines}`,
      '          echo "::error title=Refused::the reason, printed last"',
      '          exit 1',
      '',
    ].join('\n'),
  );
  git(dir, 'init', '--quiet', '--initial-branch=main');
  commitAll(dir, 'a failing workflow');
  return dir;
}

describe('act, the runner emulator', () => {
  // Unpatched, act v0.2.89 closes the step's terminal as soon as the step exits non-zero and
  // drops what it had not copied yet: with this much output, the last few thousand lines.
  test('a failing step keeps its whole output, the last line included', async () => {
    const lines = 30000;
    const run = await runAct({ repo: failingRepository(lines), event: 'push', workflow: '.github/workflows/fail.yml', job: 'fail' });
    expect(run.code).not.toBe(0);
    const printed = [...run.log.matchAll(/\| (\d+)\r?$/gm)].map((m) => Number(m[1]));
    expect(printed.length).toBe(lines);
    expect(printed.at(-1)).toBe(lines);
    expect(run.log).toMatch(/❗\s+::error title=Refused::the reason, printed last/);
  });
});
