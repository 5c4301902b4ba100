// A preview environment's life around the pipeline: announce it on the PR, report how the deploy
// went, destroy it when the PR closes, and sweep what the close events missed.
import { UserError } from '../errors.js';
import type { GitHub } from '../github/api.js';
import type { KubeClient } from '../kube/client.js';
import type { KubeObject, List } from '../kube/objects.js';
import type { Reporter } from '../report/reporter.js';
import type { ReleaseResult } from '../result.js';
import { destroyRefusal, janitorDecision, PREVIEW_LABEL, previewEnvironment, PR_LABEL, type JanitorDecision, type PrState } from './names.js';

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

async function namespaceLabels(kube: KubeClient, namespace: string): Promise<Record<string, string> | null> {
  const r = await kube.run(['get', 'namespace', namespace, '-o', 'json', '--ignore-not-found']);
  return r.stdout.trim() ? ((JSON.parse(r.stdout) as KubeObject).metadata.labels ?? {}) : null;
}

/** Deletes exactly the preview's namespace, after checking it carries this PR's preview labels. */
export async function destroy(kube: KubeClient, namespace: string, pr: number | undefined, gh: GitHub | undefined, reporter: Reporter): Promise<boolean> {
  const labels = await namespaceLabels(kube, namespace);
  if (labels === null) {
    reporter.info(`namespace ${namespace} does not exist: nothing to delete`);
  } else {
    const refusal = destroyRefusal(namespace, labels, pr);
    if (refusal) throw new UserError(refusal);
    reporter.info(`deleting namespace ${namespace}`);
    await kube.run(['delete', 'namespace', namespace, '--wait=true', '--timeout=180s']);
    reporter.info(`namespace ${namespace} deleted`);
  }
  const number = pr ?? (labels ? Number(labels[PR_LABEL]) : undefined);
  if (gh && number) {
    const ids = await gh.deactivate(previewEnvironment(number));
    reporter.info(`marked ${ids.length} deployment(s) of ${previewEnvironment(number)} inactive`);
    await gh.upsertComment(number, `### Preview for #${number}: 🧹 destroyed\n\nNamespace \`${namespace}\` was deleted.`);
  }
  return labels !== null;
}

/** Deletes the previews whose PR is closed or whose expiry passed; says what it kept and why. */
export async function janitor(kube: KubeClient, gh: GitHub | undefined, reporter: Reporter, now = new Date()): Promise<JanitorDecision[]> {
  const list = await kube.json<List<KubeObject>>(['get', 'namespaces', '-l', `${PREVIEW_LABEL}=true`]);
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
    if (d.delete) {
      await destroy(kube, ns.metadata.name, d.pr, gh, reporter);
      reporter.info(`deleted ${d.namespace}: ${d.reason}`);
    } else {
      reporter.info(`kept ${d.namespace}: ${d.reason}`);
    }
  }
  if (!decisions.length) reporter.info('no preview namespaces');
  return decisions;
}
