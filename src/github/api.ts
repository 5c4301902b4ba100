// The GitHub calls a preview makes: one sticky PR comment, a transient deployment with its
// statuses, and a PR's state. Through @actions/github, which honours GITHUB_API_URL.
import * as github from '@actions/github';

const COMMENT_MARKER = '<!-- medaudit-deploy:preview -->';

export type Repo = { owner: string; repo: string };
type Octokit = ReturnType<typeof github.getOctokit>;

/** owner/name from GITHUB_REPOSITORY, or undefined outside a workflow (a terminal, say). */
export function repoFromEnv(full = process.env.GITHUB_REPOSITORY ?? ''): Repo | undefined {
  const [owner, repo, ...rest] = full.split('/');
  return owner && repo && !rest.length ? { owner, repo } : undefined;
}

export class GitHub {
  private readonly octokit: Octokit;

  constructor(
    token: string,
    readonly repo: Repo,
  ) {
    this.octokit = github.getOctokit(token);
  }

  /** The id of the PR's preview comment, if it has one. */
  async previewComment(pr: number): Promise<number | undefined> {
    const comments = await this.octokit.paginate(this.octokit.rest.issues.listComments, { ...this.repo, issue_number: pr, per_page: 100 });
    return comments.find((c) => c.body?.startsWith(COMMENT_MARKER))?.id;
  }

  /** Creates the PR's preview comment, or edits it: one comment per PR, whatever the number of pushes. */
  async upsertComment(pr: number, body: string, existing?: number): Promise<number> {
    const text = `${COMMENT_MARKER}\n${body}`;
    const mine = existing ?? (await this.previewComment(pr));
    if (mine !== undefined) {
      await this.octokit.rest.issues.updateComment({ ...this.repo, comment_id: mine, body: text });
      return mine;
    }
    const created = await this.octokit.rest.issues.createComment({ ...this.repo, issue_number: pr, body: text });
    return created.data.id;
  }

  async createDeployment(ref: string, environment: string, description: string): Promise<number> {
    const res = await this.octokit.rest.repos.createDeployment({
      ...this.repo,
      ref,
      environment,
      description,
      transient_environment: true,
      production_environment: false,
      auto_merge: false,
      required_contexts: [],
    });
    return (res.data as { id: number }).id;
  }

  async setDeploymentStatus(
    id: number,
    state: 'in_progress' | 'success' | 'failure' | 'error' | 'inactive',
    environmentUrl?: string,
    description?: string,
  ): Promise<void> {
    await this.octokit.rest.repos.createDeploymentStatus({
      ...this.repo,
      deployment_id: id,
      state,
      ...(environmentUrl ? { environment_url: environmentUrl } : {}),
      ...(description ? { description: description.slice(0, 140) } : {}),
      auto_inactive: true,
    });
  }

  /** Marks every deployment of an environment inactive (the environment is gone). */
  async deactivate(environment: string): Promise<number[]> {
    const deployments = await this.octokit.paginate(this.octokit.rest.repos.listDeployments, { ...this.repo, environment, per_page: 100 });
    for (const d of deployments) await this.setDeploymentStatus(d.id, 'inactive', undefined, 'preview destroyed');
    return deployments.map((d) => d.id);
  }

  async pullState(pr: number): Promise<'open' | 'closed'> {
    const res = await this.octokit.rest.pulls.get({ ...this.repo, pull_number: pr });
    return res.data.state === 'open' ? 'open' : 'closed';
  }
}
