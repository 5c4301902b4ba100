// deploy.yml's optional image scan, run by act: Trivy itself and its vulnerability database cannot
// be had here, so trivy-action is a stand-in returning a given report (test/fixtures/trivy). What
// is tested is the wiring: the inputs, the gate before the deploy and the job summary.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { actOutput, backendRepository, runAct } from '../support/act.js';
import { clusterEnv, kubectl, REGISTRY, REPO, tryKubectl, uniqueNamespace } from '../support/cluster.js';

const IMAGE = `${REGISTRY}/wf/medaudit-backend`;
const blocked = uniqueNamespace('wf-scan-blocked');
const passed = uniqueNamespace('wf-scan-passed');
let repo: string;

const dispatch = (namespace: string, report: string, inputs: Record<string, string> = {}) => {
  const kubeconfig = readFileSync(clusterEnv().KUBECONFIG, 'utf8');
  return runAct({
    repo,
    event: 'workflow_dispatch',
    workflow: '.github/workflows/deploy-backend.yml',
    job: 'announce',
    payload: { inputs: { namespace, tag: `wf-scan-${report}`, scan: 'true', ...inputs } },
    secrets: { STAGING_KUBECONFIG: kubeconfig, SECRET_KEY: 'wf-scan-key', POSTGRES_PASSWORD: 'wf-scan-password' },
    vars: { MEDAUDIT_IMAGE: IMAGE },
    env: { TRIVY_STANDIN_REPORT: path.join(REPO, 'test', 'fixtures', 'trivy', `${report}.json`) },
  });
};

beforeAll(() => {
  repo = backendRepository();
  for (const n of [blocked, passed]) kubectl(['create', 'namespace', n]);
});
afterAll(() => {
  for (const n of [blocked, passed]) tryKubectl(['delete', 'namespace', n, '--wait=false']);
});

describe('scan: true', () => {
  test('a critical finding stops the release before the deploy job; the findings are in the summary', async () => {
    const run = await dispatch(blocked, 'critical');
    expect(run.code).not.toBe(0);
    expect(run.log).toContain('trivy stand-in: 2 finding(s) in medaudit-scan:');
    expect(run.log).toMatch(/::error title=Image scan::1 finding\(s\) of severity CRITICAL in the image built from this commit: not deployed/);
    expect(run.log).toContain('| CRITICAL | 1 |');
    expect(run.log).toContain('| HIGH | 1 |');
    expect(run.log).toContain('- CRITICAL CVE-2026-10001 in libcrypto3 3.3.1-r0 (fixed in 3.3.2-r0)');
    expect(run.log).not.toContain('Run Main Build and push');
    expect(tryKubectl(['get', 'secret', 'medaudit-secrets', '-n', blocked]).code).not.toBe(0);
  });

  test('findings below scan-fail-on are reported, and the release goes on', async () => {
    const run = await dispatch(passed, 'high');
    expect(run.log).toContain('| HIGH | 1 |');
    expect(run.log).toContain('No finding of severity CRITICAL.');
    expect(run.code).toBe(0);
    expect(actOutput(run.log, 'status')).toBe('deployed');
  });

  test('scan-fail-on HIGH turns the same report into a stop', async () => {
    const run = await dispatch(blocked, 'high', { 'scan-fail-on': 'HIGH,CRITICAL' });
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/1 finding\(s\) of severity HIGH,CRITICAL/);
    expect(run.log).not.toContain('Run Main Build and push');
  });
});
