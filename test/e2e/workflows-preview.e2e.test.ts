// preview.yml run by act (test/support/act.ts) for a pull request's life: opened, synchronize,
// closed, a PR closed without ever having a preview, and the scheduled janitor; the GitHub API
// stand-in records every call and answers as GitHub would for the job's permissions.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { backendRepository, commitAll, runAct } from '../support/act.js';
import { clusterEnv, kubectlJson, labelledPreview, REGISTRY, servedDigest, tryKubectl } from '../support/cluster.js';
import { FakeGitHub } from '../support/github-fake.js';

const REPOSITORY = 'acme-wf/medaudit-backend';
const API_REPO = `/repos/${REPOSITORY}`;
const IMAGE = `${REGISTRY}/wf/medaudit-backend`;
const DOMAIN = 'preview.wf.example.test';
// PR numbers of their own: preview namespaces are medaudit-pr-<N> in the shared cluster.
const PR = 9301;
const NEVER_PREVIEWED = 9302;
const [CLOSED, OPEN, OTHERS] = [9303, 9304, 9305];
const gh = new FakeGitHub();
let repo: string;

const exists = (ns: string) => tryKubectl(['get', 'namespace', ns]).code === 0;

function pullRequest(action: string, number: number, sha: string, labels = ['preview']) {
  return {
    action,
    number,
    pull_request: {
      number,
      state: action === 'closed' ? 'closed' : 'open',
      head: { sha, ref: `feature-${number}`, repo: { full_name: REPOSITORY } },
      base: { ref: 'main', repo: { full_name: REPOSITORY } },
      labels: labels.map((name) => ({ name })),
    },
    repository: { full_name: REPOSITORY, name: 'medaudit-backend', owner: { login: 'acme-wf' }, default_branch: 'main' },
  };
}

/** One act run of preview.yml; every run here should succeed, so a failing one prints its log. */
async function preview(event: string, job: string, payload: object, workflow = '.github/workflows/preview.yml') {
  const run = await runAct({
    repo,
    event,
    workflow,
    job,
    payload,
    api: gh.url,
    secrets: { PREVIEW_KUBECONFIG: readFileSync(clusterEnv().KUBECONFIG, 'utf8') },
    vars: { PREVIEW_DOMAIN: DOMAIN, MEDAUDIT_IMAGE: IMAGE },
  });
  if (run.code !== 0) console.log(`act ${event} ${job} exited ${run.code}:\n${run.log}`);
  return run;
}

beforeAll(async () => {
  repo = backendRepository('acme-wf');
  await gh.start();
});
afterAll(async () => {
  await gh.stop();
  for (const pr of [PR, CLOSED, OPEN, OTHERS]) tryKubectl(['delete', 'namespace', `medaudit-pr-${pr}`, '--wait=false', '--ignore-not-found']);
});

describe(`a pull request's preview, #${PR}`, () => {
  let commentId: number;

  test('opened: deployed into its namespace, owned by the repository; one comment; a deployment', async () => {
    const sha = commitAll(repo, 'a change under review');
    const run = await preview('pull_request', 'deploy-preview', pullRequest('opened', PR, sha));
    expect(run.log).toContain('🏁  Job succeeded');
    expect(run.code).toBe(0);
    const ns = kubectlJson(['get', 'namespace', `medaudit-pr-${PR}`]);
    expect(ns.metadata.labels).toMatchObject({
      'medaudit.io/preview': 'true',
      'medaudit.io/pr': String(PR),
      'medaudit.io/repository': 'acme-wf_medaudit-backend',
    });
    const image = kubectlJson(['get', 'deployment', 'backend', '-n', `medaudit-pr-${PR}`]).spec.template.spec.containers[0].image;
    expect(image).toMatch(new RegExp(`^${IMAGE}@sha256:[0-9a-f]{64}$`));
    const [deployment] = gh.deploymentsFor(`pr-${PR}`);
    expect(deployment.ref).toBe(sha);
    commentId = gh.commentsOn(PR)[0].id;
    expect(gh.writes()).toEqual([
      `POST ${API_REPO}/deployments`,
      `POST ${API_REPO}/deployments/${deployment.id}/statuses`,
      `POST ${API_REPO}/issues/${PR}/comments`,
      `POST ${API_REPO}/deployments/${deployment.id}/statuses`,
      `PATCH ${API_REPO}/issues/comments/${commentId}`,
    ]);
    expect(deployment.statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(gh.commentsOn(PR)[0].body).toContain(`https://pr-${PR}.${DOMAIN}`);
    expect(gh.refused()).toEqual([]);
  });

  test('synchronize: the new head is built and deployed; the same comment is edited', async () => {
    writeFileSync(path.join(repo, 'app', 'VERSION'), 'second push\n');
    const sha = commitAll(repo, 'a second push');
    const before = gh.writes().length;
    const run = await preview('pull_request', 'deploy-preview', pullRequest('synchronize', PR, sha));
    expect(run.code).toBe(0);
    const image = kubectlJson(['get', 'deployment', 'backend', '-n', `medaudit-pr-${PR}`]).spec.template.spec.containers[0].image;
    expect(image).toBe(`${IMAGE}@${await servedDigest('wf/medaudit-backend', `pr-${PR}-${sha.slice(0, 12)}`)}`);
    expect(gh.commentsOn(PR)).toHaveLength(1);
    expect(
      gh
        .writes()
        .slice(before)
        .filter((w) => w.includes('/comments')),
    ).toEqual([`PATCH ${API_REPO}/issues/comments/${commentId}`, `PATCH ${API_REPO}/issues/comments/${commentId}`]);
    expect(gh.deploymentsFor(`pr-${PR}`).map((d) => d.ref)).toEqual([expect.any(String), sha]);
  });

  test('closed: the namespace deleted, every deployment inactive, the comment says so', async () => {
    const run = await preview('pull_request', 'destroy-preview', pullRequest('closed', PR, 'f'.repeat(40)));
    expect(run.code).toBe(0);
    expect(exists(`medaudit-pr-${PR}`)).toBe(false);
    for (const d of gh.deploymentsFor(`pr-${PR}`)) expect(d.statuses.at(-1).state).toBe('inactive');
    expect(gh.commentsOn(PR)).toHaveLength(1);
    expect(gh.commentsOn(PR)[0].body).toContain('destroyed');
    expect(gh.refused()).toEqual([]);
  });

  test('closed without ever having had a preview: nothing deleted and no comment', async () => {
    const before = gh.writes().length;
    const run = await preview('pull_request', 'destroy-preview', pullRequest('closed', NEVER_PREVIEWED, 'e'.repeat(40), []));
    expect(run.code).toBe(0);
    expect(run.log).toMatch(new RegExp(`PR #${NEVER_PREVIEWED} never had a preview`));
    expect(gh.writes().slice(before)).toEqual([]);
    expect(gh.commentsOn(NEVER_PREVIEWED)).toEqual([]);
  });
});

describe('a pull request from a fork', () => {
  test('opened: a notice, no preview, no GitHub call', async () => {
    const before = gh.requests.length;
    const payload = pullRequest('opened', 9306, 'd'.repeat(40));
    payload.pull_request.head.repo.full_name = 'someone/medaudit-backend';
    const run = await preview('pull_request', 'fork-notice', payload);
    expect(run.code).toBe(0);
    expect(run.log).toContain('::notice title=No preview for forks::');
    expect(exists('medaudit-pr-9306')).toBe(false);
    expect(gh.requests.length).toBe(before);
  });
});

describe('the scheduled janitor', () => {
  test("cleans this repository's closed preview inside its PR's group; keeps the open one and another repository's", async () => {
    labelledPreview(CLOSED, REPOSITORY);
    labelledPreview(OPEN, REPOSITORY);
    labelledPreview(OTHERS, 'someone-else/api');
    gh.pulls.set(CLOSED, 'closed');
    gh.pulls.set(OPEN, 'open');
    gh.pulls.set(OTHERS, 'closed');
    const run = await preview('schedule', 'janitor-clean', {});
    expect(run.code).toBe(0);
    expect(run.log).toContain(`Clean preview pr-${CLOSED}`);
    expect(exists(`medaudit-pr-${CLOSED}`)).toBe(false);
    expect(exists(`medaudit-pr-${OPEN}`)).toBe(true);
    expect(exists(`medaudit-pr-${OTHERS}`)).toBe(true);
    expect(run.log).toMatch(new RegExp(`deleted medaudit-pr-${CLOSED}: PR #${CLOSED} is closed`));
    expect(gh.commentsOn(CLOSED)[0].body).toContain('destroyed');
    expect(gh.requests.some((r) => r.path.includes(`/pulls/${OTHERS}`))).toBe(false);
    expect(gh.refused()).toEqual([]);
  });

  test('a token without pull-requests: write (the old janitor) gets 403 for the comment: a warning, the preview still deleted', async () => {
    // preview.yml as it was: the cleaning job could read pull requests but not comment on them.
    const wf = YAML.parse(readFileSync(path.join(repo, '.github/workflows/preview.yml'), 'utf8'));
    wf.jobs['janitor-clean'].permissions = { deployments: 'write', 'pull-requests': 'read' };
    writeFileSync(path.join(repo, '.github/workflows/preview-read-only.yml'), YAML.stringify(wf));
    labelledPreview(CLOSED, REPOSITORY);
    const refusedBefore = gh.refused().length;
    const run = await preview('schedule', 'janitor-clean', {}, '.github/workflows/preview-read-only.yml');
    // The comment the first clean-up wrote, edited: refused.
    expect(gh.refused().slice(refusedBefore)).toEqual([`PATCH ${API_REPO}/issues/comments/${gh.commentsOn(CLOSED)[0].id}`]);
    expect(run.log).toMatch(/telling PR #9303 its preview is gone failed: Resource not accessible by integration/);
    expect(exists(`medaudit-pr-${CLOSED}`)).toBe(false);
    expect(run.code).toBe(0);
  });
});
