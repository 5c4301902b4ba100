// release-action.yml, run by act on a pushed vX.Y.Z tag against a local git remote (a bare
// repository) and the GitHub API stand-in: dist/ checked, the release created, vX moved; a tag
// whose dist/ is stale releases nothing and leaves vX where it was.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commitAll, git, runAct } from '../support/act.js';
import { REPO } from '../support/cluster.js';
import { FakeGitHub } from '../support/github-fake.js';

const gh = new FakeGitHub();
let source: string;
let remote: string;

/** The action's files as they are in this checkout (tracked and new, not ignored), in a repository of their own. */
function actionRepository(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-action-'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    try {
      cpSync(path.join(REPO, f), path.join(dir, f));
    } catch {
      // deleted in the work tree
    }
  }
  git(dir, 'init', '--quiet', '--initial-branch=main');
  git(dir, 'remote', 'add', 'origin', 'https://github.com/org/medaudit-deploy.git');
  commitAll(dir, 'the action');
  return dir;
}

/** Tags HEAD and pushes the tag to the remote, as a maintainer does; then the workflow runs on that push. */
function pushTag(tag: string) {
  git(source, 'tag', tag);
  git(source, 'push', '--quiet', remote, `refs/tags/${tag}`);
  return runAct({
    repo: source,
    event: 'push',
    workflow: '.github/workflows/release-action.yml',
    job: 'release',
    payload: { ref: `refs/tags/${tag}` },
    api: gh.url,
    checkoutSource: remote,
  });
}

const remoteTag = (tag: string) => execFileSync('git', ['rev-parse', `refs/tags/${tag}^{commit}`], { cwd: remote, encoding: 'utf8' }).trim();

beforeAll(async () => {
  source = actionRepository();
  remote = path.join(mkdtempSync(path.join(os.tmpdir(), 'medaudit-remote-')), 'medaudit-deploy.git');
  execFileSync('git', ['clone', '--quiet', '--bare', source, remote]);
  await gh.start();
});
afterAll(() => gh.stop());

describe('a vX.Y.Z tag', () => {
  test('dist/ matches a fresh build: the release is created and v1 moves to it', async () => {
    const run = await pushTag('v1.2.3');
    expect(run.log).toContain('🏁  Job succeeded');
    expect(run.code).toBe(0);
    expect(gh.releases.map((r) => r.tag_name)).toEqual(['v1.2.3']);
    expect(gh.refused()).toEqual([]);
    expect(remoteTag('v1')).toBe(remoteTag('v1.2.3'));
  });

  test('dist/ stale at the tag: no release, v1 stays where it was', async () => {
    const usage = path.join(source, 'src', 'cli', 'args.ts');
    writeFileSync(usage, readFileSync(usage, 'utf8').replace('Exit code 0: deployed (or dry run).', 'Exit code 0: deployed, or a dry run.'));
    commitAll(source, 'a change without its bundle');
    git(source, 'push', '--quiet', remote, 'HEAD:refs/heads/main');
    const run = await pushTag('v1.2.4');
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/::error title=dist\/ is stale::dist\/ at v1.2.4 differs from a fresh 'npm run package'/);
    expect(gh.releases.map((r) => r.tag_name)).toEqual(['v1.2.3']);
    expect(remoteTag('v1')).toBe(remoteTag('v1.2.3'));
  });
});
