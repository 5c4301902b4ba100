// PR preview environments end to end: the action deploys into the PR's own namespace, talks to a
// local stand-in for the GitHub API (which records every request), destroys, and sweeps.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { kubectl, kubectlJson, labelledPreview, REGISTRY, REPO, tryKubectl } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';
import { FakeGitHub } from '../support/github-fake.js';

const DOMAIN = 'preview.example.test';
const PR = 123;
const NS = `medaudit-pr-${PR}`;
const gh = new FakeGitHub();
let ws: string;

const action = (inputs: Record<string, string>) =>
  runAction(
    { image: `${REGISTRY}/medaudit-backend`, 'github-token': 'fake-token-for-tests', timeout: '4m', ...inputs },
    { cwd: ws, env: { GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: 'acme/medaudit-backend' } },
  );
const previewDeploy = (tag: string, extra: Record<string, string> = {}) =>
  action({ tag, preview: String(PR), 'preview-domain': DOMAIN, manifests: path.join(REPO, 'k8s', 'overlays', 'preview'), ...extra });
const exists = (ns: string) => tryKubectl(['get', 'namespace', ns]).code === 0;

beforeAll(async () => {
  ws = sampleWorkspace();
  await gh.start();
});
afterAll(async () => {
  await gh.stop();
  for (const ns of [NS, 'medaudit-pr-124', 'medaudit-pr-125']) tryKubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

describe(`preview of PR #${PR}`, () => {
  let commentId: number;

  test('deploy: its namespace, quota, host and labels; pods Ready; one comment; a deployment with statuses', async () => {
    const run = await previewDeploy('preview-1');
    expect(run.log).not.toMatch(/::error/);
    expect(run.code).toBe(0);
    expect(run.outputs.url).toBe(`https://pr-${PR}.${DOMAIN}`);
    const ns = kubectlJson(['get', 'namespace', NS]);
    expect(ns.metadata.labels).toMatchObject({ 'medaudit.io/preview': 'true', 'medaudit.io/pr': String(PR) });
    const expires = Number(ns.metadata.labels['medaudit.io/expires']) * 1000;
    expect(expires).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
    expect(kubectlJson(['get', 'resourcequota', 'preview-quota', '-n', NS]).spec.hard.pods).toBeDefined();
    const ingress = kubectlJson(['get', 'ingress', 'medaudit-ingress', '-n', NS]);
    expect(ingress.spec.rules[0].host).toBe(`pr-${PR}.${DOMAIN}`);
    expect(ingress.spec.tls[0].hosts).toEqual([`pr-${PR}.${DOMAIN}`]);
    for (const d of ['backend', 'celery-worker']) expect(kubectlJson(['get', 'deployment', d, '-n', NS]).status.readyReplicas).toBe(1);
    expect(kubectlJson(['get', 'statefulset', 'postgres', '-n', NS]).status.readyReplicas).toBe(1);

    const deployments = gh.deploymentsFor(`pr-${PR}`);
    expect(deployments).toHaveLength(1);
    const id = deployments[0].id;
    expect(gh.writes()).toEqual([
      'POST /repos/acme/medaudit-backend/deployments',
      `POST /repos/acme/medaudit-backend/deployments/${id}/statuses`,
      `POST /repos/acme/medaudit-backend/issues/${PR}/comments`,
      `POST /repos/acme/medaudit-backend/deployments/${id}/statuses`,
      `PATCH /repos/acme/medaudit-backend/issues/comments/${gh.commentsOn(PR)[0].id}`,
    ]);
    const created = gh.requests.find((r) => r.method === 'POST' && r.path.endsWith('/deployments'))!;
    expect(created.body).toMatchObject({
      environment: `pr-${PR}`,
      transient_environment: true,
      production_environment: false,
      ref: 'c0ffee0123456789abcdef0123456789abcdef01',
    });
    expect(deployments[0].statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(deployments[0].statuses[1].environment_url).toBe(`https://pr-${PR}.${DOMAIN}`);
    const comments = gh.commentsOn(PR);
    expect(comments).toHaveLength(1);
    expect(comments[0].body).toContain('deployed');
    expect(comments[0].body).toContain(`https://pr-${PR}.${DOMAIN}`);
    commentId = comments[0].id;
    // The token never shows in the log outside the runner's mask command.
    expect(
      run.log
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain('fake-token-for-tests');
  });

  test('a second push updates the same comment and makes a new deployment', async () => {
    const before = gh.requests.length;
    const run = await previewDeploy('preview-2');
    expect(run.code).toBe(0);
    const comments = gh.commentsOn(PR);
    expect(comments).toHaveLength(1);
    expect(comments[0].id).toBe(commentId);
    const mine = gh.requests
      .slice(before)
      .filter((r) => r.method !== 'GET')
      .map((r) => `${r.method} ${r.path}`);
    expect(mine.filter((w) => w.includes('/comments'))).toEqual([
      `PATCH /repos/acme/medaudit-backend/issues/comments/${commentId}`,
      `PATCH /repos/acme/medaudit-backend/issues/comments/${commentId}`,
    ]);
    expect(gh.deploymentsFor(`pr-${PR}`)).toHaveLength(2);
  });

  test('a failing preview release is rolled back, and the comment says so', async () => {
    const run = await previewDeploy('preview-crash', { 'build-args': 'SIM_BEHAVIOUR=crash' });
    expect(run.code).toBe(1);
    expect(run.outputs.status).toBe('rolled-back');
    const comment = gh.commentsOn(PR)[0].body;
    expect(comment).toContain('rolled back');
    expect(comment).toContain('CrashLoopBackOff');
    const last = gh.deploymentsFor(`pr-${PR}`).at(-1)!;
    expect(last.statuses.map((s) => s.state)).toEqual(['in_progress', 'failure']);
    expect(kubectlJson(['get', 'deployment', 'backend', '-n', NS]).status.readyReplicas).toBe(1);
  });

  test('destroy: the namespace is gone, every deployment inactive, the comment updated', async () => {
    const run = await action({ command: 'destroy', preview: String(PR) });
    expect(run.code).toBe(0);
    expect(run.outputs.status).toBe('destroyed');
    expect(exists(NS)).toBe(false);
    for (const d of gh.deploymentsFor(`pr-${PR}`)) expect(d.statuses.at(-1).state).toBe('inactive');
    expect(gh.commentsOn(PR)).toHaveLength(1);
    expect(gh.commentsOn(PR)[0].body).toContain('destroyed');
  });
});

describe('guards and the janitor', () => {
  test("another repository's preview with the same PR number: destroy and a preview deploy are refused, nothing changed", async () => {
    labelledPreview(126, 'someone-else/api');
    try {
      const before = kubectlJson(['get', 'namespace', 'medaudit-pr-126']).metadata.resourceVersion;
      const writes = gh.writes().length;
      const destroyed = await action({ command: 'destroy', preview: '126' });
      expect(destroyed.code).toBe(1);
      expect(destroyed.outputs['failure-reason']).toBe(
        "namespace 'medaudit-pr-126' is the preview of repository someone-else/api, not of acme/medaudit-backend: refusing to delete it",
      );
      const deployed = await action({ tag: 'preview-126', preview: '126', 'preview-domain': DOMAIN });
      expect(deployed.code).toBe(1);
      expect(deployed.outputs['failure-reason']).toMatch(
        /is the preview of repository someone-else\/api, not of acme\/medaudit-backend: refusing to deploy a preview into it/,
      );
      expect(kubectlJson(['get', 'namespace', 'medaudit-pr-126']).metadata.resourceVersion).toBe(before);
      expect(gh.writes().length).toBe(writes);
    } finally {
      tryKubectl(['delete', 'namespace', 'medaudit-pr-126', '--wait=false']);
    }
  });

  test('destroy pointed at a namespace without the preview labels is refused, nothing deleted', async () => {
    const created = !exists('medaudit');
    if (created) kubectl(['create', 'namespace', 'medaudit']);
    kubectl(['create', 'configmap', 'keep-me', '-n', 'medaudit', '--from-literal=a=b']);
    try {
      const before = kubectlJson(['get', 'namespace', 'medaudit']).metadata.resourceVersion;
      const writes = gh.writes().length;
      const run = await action({ command: 'destroy', namespace: 'medaudit' });
      expect(run.code).toBe(1);
      expect(run.outputs['failure-reason']).toMatch(/namespace 'medaudit' has no medaudit.io\/preview=true label: it is not a preview, refusing to delete it/);
      expect(kubectlJson(['get', 'namespace', 'medaudit']).metadata.resourceVersion).toBe(before);
      expect(kubectlJson(['get', 'configmap', 'keep-me', '-n', 'medaudit']).data).toEqual({ a: 'b' });
      expect(gh.writes().length).toBe(writes);
    } finally {
      kubectl(['delete', 'configmap', 'keep-me', '-n', 'medaudit']);
      if (created) kubectl(['delete', 'namespace', 'medaudit', '--wait=false']);
    }
  });

  test('janitor: deletes the closed PR and the expired preview, keeps the open one, says why', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const past = Math.floor(Date.now() / 1000) - 60;
    for (const [pr, expires] of [
      [123, future],
      [124, future],
      [125, past],
    ]) {
      labelledPreview(pr, 'acme/medaudit-backend', expires);
    }
    gh.pulls.set(123, 'closed');
    gh.pulls.set(124, 'open');
    gh.pulls.set(125, 'open');
    const run = await action({ command: 'janitor' });
    expect(run.code).toBe(0);
    expect(exists('medaudit-pr-123')).toBe(false);
    expect(exists('medaudit-pr-125')).toBe(false);
    expect(exists('medaudit-pr-124')).toBe(true);
    expect(run.log).toMatch(/deleted medaudit-pr-123: PR #123 is closed/);
    expect(run.log).toMatch(/deleted medaudit-pr-125: expired at/);
    expect(run.log).toMatch(/kept medaudit-pr-124: PR #124 is open/);
    const asked = gh.requests.filter((r) => r.method === 'GET' && /\/pulls\/\d+$/.test(r.path)).map((r) => r.path);
    expect(asked.sort()).toEqual([
      '/repos/acme/medaudit-backend/pulls/123',
      '/repos/acme/medaudit-backend/pulls/124',
      '/repos/acme/medaudit-backend/pulls/125',
    ]);
    expect(run.summary).toContain('| `medaudit-pr-124` | #124 | kept |');
  });
});
