// The API server's refusal of a changed Job template, captured from the cluster (capture-jobs.sh):
// the Jobs it names are the ones to replace.
import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { refusedAsImmutable } from '../../src/rollout/jobs.js';
import { REPO } from '../support/cluster.js';

const captured = readFileSync(path.join(REPO, 'test', 'fixtures', 'status', 'job-immutable.stderr'), 'utf8');

test('the refused Job is named from what the API server said', () => {
  expect(refusedAsImmutable(captured)).toEqual(['complete']);
});

test('each of several refused Jobs once; other errors name none', () => {
  const other = captured.replaceAll('"complete"', '"seed"');
  expect(refusedAsImmutable(`${captured}\n${other}\n${captured}`)).toEqual(['complete', 'seed']);
  expect(refusedAsImmutable('Error from server (Forbidden): jobs.batch "complete" is forbidden')).toEqual([]);
  expect(refusedAsImmutable('The Job "x" is invalid: spec.parallelism: Invalid value: -1: must be greater than or equal to 0')).toEqual([]);
});
