// The API server's refusals of a changed Job template, captured from the cluster (capture-jobs.sh):
// the Jobs refused for that alone are the ones to replace, however kubectl prints the refusal.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { serverRejections } from '../../src/kube/apply.js';
import type { Job, KubeObject } from '../../src/kube/objects.js';
import { jobUnfinished, refusedAsImmutable, replaceableRefusal, runningJobRefusal } from '../../src/rollout/jobs.js';
import { REPO } from '../support/cluster.js';

const captured = (name: string) => readFileSync(path.join(REPO, 'test', 'fixtures', 'status', name), 'utf8');
const job = (name: string): KubeObject => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name } });
const jobFixture = (name: string) => JSON.parse(captured(`job-${name}.json`)).job as Job;

describe('refusedAsImmutable', () => {
  test('one Job refused: kubectl prints "The Job ... is invalid"', () => {
    expect(refusedAsImmutable(captured('job-immutable.stderr'))).toEqual(['complete']);
  });

  test('two refused at once: kubectl prints each as "Error from server (Invalid): Job.batch ..."', () => {
    expect(refusedAsImmutable(captured('job-immutable-two.stderr'))).toEqual(['complete', 'second']);
  });

  test('a refusal with a second cause is no immutable change alone: that Job is not named', () => {
    expect(refusedAsImmutable(captured('job-immutable-and-invalid.stderr'))).toEqual(['complete']);
  });

  test('other refusals name none', () => {
    expect(refusedAsImmutable('Error from server (Forbidden): jobs.batch "complete" is forbidden')).toEqual([]);
    expect(refusedAsImmutable('The Job "x" is invalid: spec.parallelism: Invalid value: -1: must be greater than or equal to 0')).toEqual([]);
  });
});

describe('replaceableRefusal: what validation forgives', () => {
  test("only the release's own migration Jobs, refused only for the immutable change", () => {
    const both = captured('job-immutable-two.stderr');
    expect(serverRejections(both, undefined, replaceableRefusal([job('complete'), job('second')]))).toEqual([]);
    // A Job the release does not replace (not a migration Job) stays refused.
    expect(serverRejections(both, undefined, replaceableRefusal([job('complete')]))).toHaveLength(1);
    // The Job with a real error besides stays refused.
    const mixed = serverRejections(captured('job-immutable-and-invalid.stderr'), undefined, replaceableRefusal([job('complete'), job('second')]));
    expect(mixed).toHaveLength(1);
    expect(mixed[0]).toMatch(/^Error from server \(Invalid\): Job\.batch "second" is invalid: \[spec\.template\.spec\.restartPolicy: Required value/);
  });
});

describe('a Job that still runs is never replaced', () => {
  test('running or retrying: unfinished; completed or given up: finished', () => {
    expect(['running', 'failed-once', 'complete', 'gave-up'].map((n) => [n, jobUnfinished(jobFixture(n))])).toEqual([
      ['running', true],
      ['failed-once', true],
      ['complete', false],
      ['gave-up', false],
    ]);
  });

  test('the refusal names the Job, its active pods and how to go on', () => {
    const running = { ...jobFixture('running'), metadata: { ...jobFixture('running').metadata, namespace: 'medaudit' } };
    expect(runningJobRefusal(running)).toBe(
      "Job/running is still running (1 active pod), started before this release: a Job cannot be changed while it runs; wait for it to finish, or delete it ('kubectl delete job running -n medaudit')",
    );
  });
});
