// The terminal's argument parsing, the same inputs as the action's.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { FLAGS, parseArgs, usage } from '../../src/cli/args.js';
import { REPO } from '../support/cluster.js';

describe('parseArgs', () => {
  test('the command comes first; flags take the next word or an inline =value', () => {
    expect(parseArgs(['destroy', '--preview', '5', '--namespace=medaudit-pr-5'])).toEqual({
      command: 'destroy',
      values: { preview: '5', namespace: 'medaudit-pr-5' },
    });
  });

  test('without a command it deploys', () => {
    expect(parseArgs(['--image', 'ghcr.io/acme/app']).command).toBe('deploy');
  });

  test('a boolean flag alone means true, before another flag or at the end', () => {
    expect(parseArgs(['--dry-run', '--image', 'x']).values).toEqual({ 'dry-run': 'true', image: 'x' });
    expect(parseArgs(['--image', 'x', '--rollback']).values).toEqual({ image: 'x', rollback: 'true' });
    expect(parseArgs(['--rollback', 'false']).values).toEqual({ rollback: 'false' });
  });

  test('build-args may be repeated, one KEY=VALUE per line as the action input takes them', () => {
    expect(parseArgs(['--build-args', 'A=1', '--build-args=B=2=3']).values['build-args']).toBe('A=1\nB=2=3');
  });

  test('an unknown flag, a missing value and a stray word are refused with the word at fault', () => {
    expect(() => parseArgs(['--imagee', 'x'])).toThrow('unknown flag --imagee (see --help)');
    expect(() => parseArgs(['--image'])).toThrow('--image needs a value');
    expect(() => parseArgs(['deploy', 'extra'])).toThrow("unexpected argument 'extra'");
  });

  test('every input of action.yml is a flag, and usage lists each', () => {
    const action = YAML.parse(readFileSync(path.join(REPO, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> };
    const inputs = Object.keys(action.inputs).filter((i) => i !== 'command');
    expect(FLAGS.map(([f]) => f).sort()).toEqual(inputs.sort());
    for (const i of inputs) expect(usage()).toContain(`--${i} `);
  });
});
