// The README's inputs and outputs tables are action.yml's, word for word: they cannot drift.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const action = YAML.parse(readFileSync(path.join(root, 'action.yml'), 'utf8'));

/** The rows of the first table under a `## heading`, as arrays of cells (backticks removed). */
function table(heading: string): string[][] {
  const section = readme.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
  if (!section) throw new Error(`README has no section '${heading}'`);
  return section
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) =>
          c
            .trim()
            .replace(/^`(.*)`$/, '$1')
            .replace(/\\\|/g, '|'),
        ),
    );
}

describe('README tables match action.yml', () => {
  test('inputs: names, defaults and descriptions, in order', () => {
    const expected = Object.entries(action.inputs as Record<string, any>).map(([name, i]) => [name, String(i.default ?? ''), i.description]);
    expect(table('Inputs')).toEqual(expected);
  });

  test('outputs: names and descriptions, in order', () => {
    const expected = Object.entries(action.outputs as Record<string, any>).map(([name, o]) => [name, o.description]);
    expect(table('Outputs')).toEqual(expected);
  });
});

describe('README quick start', () => {
  test('two commands on a fresh machine', () => {
    const quick = readme.split(/^## /m).find((s) => s.startsWith('Quick start'))!;
    expect(quick).toContain('npm run demo');
    expect(quick).toContain('npm test');
  });

  test('the scripts it names exist', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    for (const script of ['demo', 'test', 'bench', 'cluster:up', 'cluster:down', 'package', 'build', 'test:unit']) {
      expect(readme).toContain(`npm ${script === 'test' ? 'test' : `run ${script}`}`);
      expect(pkg.scripts[script]).toBeDefined();
    }
  });
});

describe('README workflow examples', () => {
  /** The first yaml block under a `### heading`. */
  const example = (heading: string) => {
    const section = readme.split(/^### /m).find((s) => s.startsWith(heading))!;
    return YAML.parse(/```yaml\n([\s\S]*?)```/.exec(section)![1]);
  };

  test("the reusable workflow's caller grants its job the permissions deploy.yml needs (a read-only default token cannot push)", () => {
    const job = example('Through the reusable workflow').jobs.staging;
    expect(job.uses).toBe('org/medaudit-deploy/.github/workflows/deploy.yml@v1');
    expect(job.permissions).toEqual({ contents: 'read', packages: 'write' });
  });

  test('github-token needs no setting: it defaults to the job token', () => {
    expect(action.inputs['github-token'].default).toBe('${{ github.token }}');
    const [step] = example('PR preview environments');
    expect(step.with['github-token']).toBeUndefined();
  });
});
