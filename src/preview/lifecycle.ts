// A preview environment's life around the pipeline: announce it on the PR, report how the deploy
// went, destroy it when the PR closes, and sweep what the close events missed.
import { UserError } from '../errors.js';
import type { GitHub } from '../github/api.js';
import type { KubeClient } from '../kube/client.js';
import type { KubeObject, List } from '../kube/objects.js';
import { bestEffort, type Reporter } from '../report/reporter.js';
import type { ReleaseResult } from '../result.js';
import { janitorDecision, ownershipRefusal, previewEnvironment, previewSelector, PR_LABEL, type JanitorDecision, type PrState } from './names.js';

const STATUS_WORDS: Record<string, string> = {
  deployed: '✅ deployed',
  'rolled-back': '↩️ failed and rolled back to the previous release',
  failed: '❌ failed',
  cancelled: '⏹️ cancelled; the previous release restored',
  'dry-run': '🔍 dry run',
};

/** The sticky comment: where the preview is and how its last deploy went. */
function commentBody(pr: number, sha: string | undefined, r: Pick<ReleaseResult, 'status' | 'url' | 'image' | 'failureReason'>): string {
  return [
    `### Preview for #${pr}: ${STATUS_WORDS[r.status] ?? r.status}`,
    '',
    `| | |`,
    `|---|---|`,
    `| URL | ${r.url ?? '—'} |`,
    `| Commit | ${sha ? `\`${sha.slice(0, 12)}\`` : '—'} |`,
    `| Image | ${r.image ? `\`${r.image}\`` : '—'} |`,
    ...(r.failureReason ? [`| Why | ${r.failureReason.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`] : []),
  ].join('\n');
}

export async function announce(gh: GitHub, pr: number, sha: string, reporter: Reporter): Promise<number> {
  const id = await gh.createDeployment(sha, previewEnvironment(pr), `preview of #${pr}`);
  await gh.setDeploymentStatus(id, 'in_progress', undefined, 'deploying');
  await gh.upsertComment(pr, `### Preview for #${pr}: ⏳ deploying \`${sha.slice(0, 12)}\``);
  reporter.info(`GitHub deployment ${id} for environment ${previewEnvironment(pr)}`);
  return id;
}

export async function conclude(gh: GitHub, pr: number, sha: string, deploymentId: number, r: ReleaseResult): Promise<void> {
  const ok = r.status === 'deployed';
  await gh.setDeploymentStatus(deploymentId, ok ? 'success' : 'failure', ok ? r.url : undefined, ok ? 'preview is up' : r.failureReason);
  await gh.upsertComment(pr, commentBody(pr, sha, r));
}

/** A namespace as read before deleting it: what the delete's precondition pins. */
type Found = { uid: string; resourceVersion: string; labels: Record<string, string> };

/** A namespace's labels, or null when it does not exist. */
export async function previewLabelsOf(kube: KubeClient, namespace: string): Promise<Record<string, string> | null> {
  return (await findNamespace(kube, namespace))?.labels ?? null;
}

async function findNamespace(kube: KubeClient, namespace: string): Promise<Found | null> {
  const r = await kube.run(['get', 'namespace', namespace, '-o', 'json', '--ignore-not-found']);
  if (!r.stdout.trim()) return null;
  const { metadata } = JSON.parse(r.stdout) as KubeObject;
  return { uid: metadata.uid ?? '', resourceVersion: metadata.resourceVersion ?? '', labels: metadata.labels ?? {} };
}

/**
 * Deletes the namespace only if it is still the object whose labels were checked: the API server
 * refuses the delete (409) when its uid or resourceVersion changed since (relabelled, recreated).
 */
async function deleteExactly(kube: KubeClient, namespace: string, found: Found): Promise<void> {
  const options = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: found.uid, resourceVersion: found.resourceVersion } };
  const r = await kube.run(['delete', '--raw', `/api/v1/namespaces/${namespace}`, '-f', '-'], { input: JSON.stringify(options), allowFailure: true });
  if (r.code !== 0) {
    if (/Conflict|precondition|409/i.test(r.stderr)) throw new UserError(`namespace '${namespace}' changed after its labels were checked: not deleted`);
    if (!/NotFound|not found/i.test(r.stderr)) throw new Error(`deleting namespace ${namespace} failed: ${r.stderr.trim()}`);
  }
  await kube.run(['wait', '--for=delete', `namespace/${namespace}`, '--timeout=180s'], { allowFailure: true });
}

/** The PR's deployments marked inactive and its comment updated, if it had a preview: a namespace or a preview comment. */
async function tellDestroyed(gh: GitHub, pr: number, namespace: string, existed: boolean, reporter: Reporter): Promise<void> {
  const comment = await gh.previewComment(pr);
  if (!existed && comment === undefined) {
    reporter.info(`PR #${pr} never had a preview: nothing to tell it`);
    return;
  }
  const ids = await gh.deactivate(previewEnvironment(pr));
  reporter.info(`marked ${ids.length} deployment(s) of ${previewEnvironment(pr)} inactive`);
  await gh.upsertComment(pr, `### Preview for #${pr}: 🧹 destroyed\n\nNamespace \`${namespace}\` was deleted.`, comment);
}

/** Where a destroy or the janitor works: whose previews (owner/name), and GitHub if it can be told. */
export type Scope = { repository?: string; gh?: GitHub };

/**
 * Deletes exactly the preview's namespace, after checking it is this repository's preview of this
 * PR. The PR hears of it only if it had a preview: a namespace, or a preview comment.
 */
export async function destroy(kube: KubeClient, namespace: string, pr: number | undefined, { repository, gh }: Scope, reporter: Reporter): Promise<boolean> {
  const found = await findNamespace(kube, namespace);
  if (found === null) {
    reporter.info(`namespace ${namespace} does not exist: nothing to delete`);
  } else {
    const refusal = ownershipRefusal(namespace, found.labels, pr, repository);
    if (refusal) throw new UserError(refusal);
    reporter.info(`deleting namespace ${namespace}`);
    await deleteExactly(kube, namespace, found);
    reporter.info(`namespace ${namespace} deleted`);
  }
  const number = pr ?? (found ? Number(found.labels[PR_LABEL]) : undefined);
  // Telling GitHub is reporting: a token that may not write there leaves a warning, not a failure.
  if (gh && number)
    await bestEffort(reporter, `telling PR #${number} its preview is gone`, () => tellDestroyed(gh, number, namespace, found !== null, reporter));
  return found !== null;
}

export type JanitorOptions = Scope & { pr?: number; dryRun?: boolean; now?: Date };

/**
 * This repository's previews whose PR is closed or whose expiry passed: deleted (or, in a dry run,
 * listed). One preview that cannot be cleaned is a warning; the others are still cleaned.
 */
export async function janitor(kube: KubeClient, reporter: Reporter, opts: JanitorOptions = {}): Promise<JanitorDecision[]> {
  const { gh, repository, pr: only, dryRun = false, now = new Date() } = opts;
  const selector = previewSelector(repository) + (only !== undefined ? `,${PR_LABEL}=${only}` : '');
  const list = await kube.json<List<KubeObject>>(['get', 'namespaces', '-l', selector]);
  const decisions: JanitorDecision[] = [];
  for (const ns of list.items) {
    const labels = ns.metadata.labels ?? {};
    const pr = Number(labels[PR_LABEL]);
    let state: PrState = 'unknown';
    if (gh && pr) {
      state = await gh.pullState(pr).catch((err: Error) => {
        reporter.warning(`PR #${pr}: ${err.message}`);
        return 'unknown' as const;
      });
    }
    const d = janitorDecision(ns.metadata.name, labels, state, now);
    decisions.push(d);
    if (!d.delete) {
      reporter.info(`kept ${d.namespace}: ${d.reason}`);
    } else if (dryRun) {
      reporter.info(`would delete ${d.namespace}: ${d.reason}`);
    } else {
      try {
        await destroy(kube, ns.metadata.name, d.pr, { repository, gh }, reporter);
        reporter.info(`deleted ${d.namespace}: ${d.reason}`);
      } catch (err) {
        d.error = (err as Error).message;
        reporter.warning(`${d.namespace}: not cleaned: ${d.error}`);
      }
    }
  }
  if (!decisions.length) reporter.info(`no preview namespaces (${selector})`);
  return decisions;
}
