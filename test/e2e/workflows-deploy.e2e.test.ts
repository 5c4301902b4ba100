// deploy.yml and release.yml run by act (test/support/act.ts) against the local cluster: a backend
// repository's workflow calling deploy.yml, a good release and a crashing one; release.yml
// dispatched to staging, as a dry run and for real, and refused for production from a branch.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { actOutput, backendRepository, git, runAct } from '../support/act.js';
import { clusterEnv, kubectl, kubectlJson, REGISTRY, servedDigest, tryKubectl, uniqueNamespace } from '../support/cluster.js';

// The manifests name the app image by its bare name, medaudit-backend.
const IMAGE = `${REGISTRY}/wf/medaudit-backend`;
const ns = uniqueNamespace('wf-deploy');
const releaseNs = uniqueNamespace('wf-release');
let repo: string;

const secrets = () => {
  const kubeconfig = readFileSync(clusterEnv().KUBECONFIG, 'utf8');
  return { STAGING_KUBECONFIG: kubeconfig, KUBECONFIG: kubeconfig, SECRET_KEY: 'wf-secret-key', POSTGRES_PASSWORD: 'wf pass/word' };
};

const registryDigest = (tag: string) => servedDigest('wf/medaudit-backend', tag);

const backendImage = (namespace: string) => kubectlJson(['get', 'deployment', 'backend', '-n', namespace]).spec.template.spec.containers[0].image as string;

beforeAll(() => {
  repo = backendRepository();
  for (const n of [ns, releaseNs]) kubectl(['create', 'namespace', n]);
});
afterAll(() => {
  for (const n of [ns, releaseNs]) tryKubectl(['delete', 'namespace', n, '--wait=false']);
});

describe("a backend repository's workflow calling deploy.yml", () => {
  const dispatch = (inputs: Record<string, string | boolean>) =>
    runAct({
      repo,
      event: 'workflow_dispatch',
      workflow: '.github/workflows/deploy-backend.yml',
      job: 'announce',
      payload: { inputs },
      secrets: secrets(),
      vars: { MEDAUDIT_IMAGE: IMAGE },
    });

  test('a good release: built, the Secret written, deployed; the outputs reach the next job', async () => {
    const run = await dispatch({ namespace: ns, tag: 'wf-good', 'build-args': 'SIM_MESSAGE=wf-good' });
    expect(run.log).toContain('🏁  Job succeeded');
    expect(run.code).toBe(0);
    // The runner has docker buildx, as GitHub's runners do.
    expect(run.log).toContain('with docker buildx (BuildKit), pushing it');
    const digest = await registryDigest('wf-good');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.log).toContain(`released status=deployed rolled-back=false image=${IMAGE}@${digest}`);
    expect(backendImage(ns)).toBe(`${IMAGE}@${digest}`);
    const secret = kubectlJson(['get', 'secret', 'medaudit-secrets', '-n', ns]);
    expect(Buffer.from(secret.data.POSTGRES_PASSWORD, 'base64').toString()).toBe('wf pass/word');
    expect(Buffer.from(secret.data.DATABASE_URL, 'base64').toString()).toContain('wf%20pass%2Fword@');
    // Secrets are masked in the log.
    expect(run.log).not.toContain('wf-secret-key');
  });

  test('a crashing release is rolled back to the good one', async () => {
    const good = backendImage(ns);
    const run = await dispatch({ namespace: ns, tag: 'wf-crash', 'build-args': 'SIM_BEHAVIOUR=crash\nSIM_MESSAGE=wf-crash' });
    expect(run.code).not.toBe(0);
    expect(actOutput(run.log, 'status')).toBe('rolled-back');
    expect(actOutput(run.log, 'rolled-back')).toBe('true');
    expect(run.log).toMatch(/CrashLoopBackOff/);
    expect(backendImage(ns)).toBe(good);
  });

  test('a failing build writes no Secret and changes nothing in the cluster', async () => {
    const fresh = uniqueNamespace('wf-nobuild');
    kubectl(['create', 'namespace', fresh]);
    try {
      const run = await dispatch({ namespace: fresh, tag: 'wf-bad-build', 'build-args': 'NOT A BUILD ARG' });
      expect(run.code).not.toBe(0);
      expect(run.log).toMatch(/build-args/);
      expect(tryKubectl(['get', 'secret', 'medaudit-secrets', '-n', fresh]).code).not.toBe(0);
      expect(tryKubectl(['get', 'deployment', 'backend', '-n', fresh]).code).not.toBe(0);
    } finally {
      tryKubectl(['delete', 'namespace', fresh, '--wait=false']);
    }
  });
});

describe('release.yml dispatched', () => {
  // GitHub's workflow_dispatch payload: the ref dispatched from, the inputs as strings.
  const release = (environment: string, dryRun: boolean, ref = 'refs/heads/main') =>
    runAct({
      repo,
      event: 'workflow_dispatch',
      workflow: '.github/workflows/release.yml',
      job: 'deploy',
      payload: { ref, inputs: { environment, 'dry-run': String(dryRun) }, repository: { default_branch: 'main', full_name: 'acme-wf/medaudit-backend' } },
      secrets: secrets(),
      vars: { MEDAUDIT_IMAGE: IMAGE, MEDAUDIT_NAMESPACE: releaseNs },
    });
  const head = () => git(repo, 'rev-parse', 'HEAD');

  test('to staging, dry run: nothing built or changed', async () => {
    const run = await release('staging', true);
    expect(run.code).toBe(0);
    expect(actOutput(run.log, 'status')).toBe('dry-run');
    expect(await registryDigest(`sha-${head().slice(0, 12)}`)).toBeNull();
    expect(tryKubectl(['get', 'secret', 'medaudit-secrets', '-n', releaseNs]).code).not.toBe(0);
    expect(tryKubectl(['get', 'deployment', 'backend', '-n', releaseNs]).code).not.toBe(0);
  });

  test('to staging: the dispatched commit is built, tagged sha-<12> and deployed', async () => {
    const run = await release('staging', false);
    expect(run.code).toBe(0);
    expect(actOutput(run.log, 'status')).toBe('deployed');
    const digest = await registryDigest(`sha-${head().slice(0, 12)}`);
    expect(digest).not.toBeNull();
    expect(backendImage(releaseNs)).toBe(`${IMAGE}@${digest}`);
    expect(run.log).toContain(`checkout stand-in: ${head()}`);
  });

  test('to production from a branch other than the default: refused before anything runs', async () => {
    const before = backendImage(releaseNs);
    const run = await release('production', false, 'refs/heads/feature-x');
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/refs\/heads\/feature-x is neither the default branch \(main\) nor a v\* tag/);
    expect(run.log).not.toContain('Deploy to production');
    expect(backendImage(releaseNs)).toBe(before);
  });
});
