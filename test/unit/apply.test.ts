// What a server-side dry run refuses, read from kubectl's report as the local cluster printed it.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { serverRejections } from '../../src/kube/apply.js';
import { replaceableRefusal } from '../../src/rollout/jobs.js';
import { REPO } from '../support/cluster.js';

// `kubectl apply --server-side --dry-run=server` of a Namespace, a Deployment with a mistyped and
// an unknown field, a valid ConfigMap and Service, and an unknown kind, into namespace brand-new-ns
// that does not exist (kubectl v1.34.4 against kube-apiserver v1.34.4).
const FIRST_INSTALL = [
  'resource mapping not found for name: "f" namespace: "brand-new-ns" from "/tmp/v1.yaml": no matches for kind "Fooo" in version "example.com/v1"',
  'ensure CRDs are installed first',
  'Error from server: failed to create typed patch object (brand-new-ns/app; apps/v1, Kind=Deployment): errors:',
  '  .spec.template.spec.containers[name="a"].bogusField: field not declared in schema',
  '  .spec.replicas: expected numeric (int or float), got string',
  'Error from server (NotFound): namespaces "brand-new-ns" not found',
  'Error from server (NotFound): namespaces "brand-new-ns" not found',
  '',
].join('\n');

describe('serverRejections', () => {
  test('into a namespace that does not exist yet, only its absence is forgiven', () => {
    const refused = serverRejections(FIRST_INSTALL, 'brand-new-ns');
    expect(refused).toHaveLength(2);
    expect(refused[0]).toBe(
      'resource mapping not found for name: "f" namespace: "brand-new-ns" from "/tmp/v1.yaml": no matches for kind "Fooo" in version "example.com/v1"\nensure CRDs are installed first',
    );
    expect(refused[1]).toMatch(
      /^Error from server: failed to create typed patch object .*\n.*bogusField: field not declared in schema\n.*\.spec\.replicas: expected numeric/,
    );
  });

  test('a valid release into a new namespace is refused nothing', () => {
    expect(
      serverRejections(
        'Error from server (NotFound): namespaces "brand-new-ns" not found\nError from server (NotFound): namespaces "brand-new-ns" not found\n',
        'brand-new-ns',
      ),
    ).toEqual([]);
  });

  test('another namespace missing, or any namespace missing on an upgrade, is a refusal', () => {
    const other = 'Error from server (NotFound): namespaces "team-b" not found\n';
    expect(serverRejections(other, 'brand-new-ns')).toEqual(['Error from server (NotFound): namespaces "team-b" not found']);
    expect(serverRejections(other)).toHaveLength(1);
  });

  test('client-go log lines are not refusals', () => {
    const klog =
      "E1130 06:00:00.000000   12345 memcache.go:265] couldn't get resource list for metrics.k8s.io/v1beta1: the server is currently unable to handle the request";
    expect(serverRejections(`${klog}\nError from server (NotFound): namespaces "brand-new-ns" not found\n`, 'brand-new-ns')).toEqual([]);
  });

  test('warnings are not refusals', () => {
    expect(serverRejections('Warning: spec.template.spec.containers[0].env[0]: hides a previous definition\n', 'x')).toEqual([]);
  });

  test('a changed Job template, which the release replaces, can be tolerated; what else is refused still shows', () => {
    // What the API server answered a changed Job template (capture-jobs.sh).
    const immutable = readFileSync(path.join(REPO, 'test', 'fixtures', 'status', 'job-immutable.stderr'), 'utf8').trim();
    const mistyped =
      'Error from server: failed to create typed patch object (ns/app; apps/v1, Kind=Deployment): errors:\n  .spec.replicas: expected numeric (int or float), got string';
    expect(serverRejections(`${immutable}\n`)).toEqual([immutable]);
    expect(
      serverRejections(`${immutable}\n`, undefined, replaceableRefusal([{ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'complete' } }])),
    ).toEqual([]);
    expect(
      serverRejections(`${immutable}\n${mistyped}\n`, undefined, replaceableRefusal([{ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'complete' } }])),
    ).toEqual([mistyped]);
  });
});
