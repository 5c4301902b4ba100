// What the action and the CLI share around the pipeline: the kubectl to use, the kubeconfig's
// lifetime, masking, and turning a result into outputs.
import path from 'node:path';
import { UserError } from './errors.js';
import { dockerCli, privateDockerConfig } from './image/build.js';
import type { Inputs } from './inputs.js';
import { installKubectl } from './kube/install.js';
import { secretLines, writeKubeconfig, type KubeconfigFile } from './kube/kubeconfig.js';
import { countLine, Kubectl } from './kube/kubectl.js';
import { deploy, type RunContext, type Tools } from './pipeline.js';
import { GitHub, repoFromEnv } from './github/api.js';
import { releaseImage } from './image/release.js';
import { announce, conclude, destroy, janitor, previewLabelsOf } from './preview/lifecycle.js';
import { ownershipRefusal, previewNamespace, type JanitorDecision } from './preview/names.js';
import { bestEffort, type Reporter } from './report/reporter.js';
import { summaryMarkdown } from './report/summary.js';
import { revisionsJson, type ReleaseResult } from './result.js';

export { defaultManifests } from './action-root.js';

export type Outputs = Record<'image' | 'digest' | 'tag' | 'status' | 'rolled-back' | 'failure-reason' | 'revisions' | 'url' | 'previews', string>;

function outputsOf(r: ReleaseResult): Outputs {
  return {
    image: r.image ?? '',
    digest: r.digest ?? '',
    tag: r.tag ?? '',
    status: r.status,
    'rolled-back': String(r.rolledBack),
    'failure-reason': r.failureReason ?? '',
    revisions: revisionsJson(r),
    url: r.url ?? '',
    previews: '[]',
  };
}

/** Outputs of a run that deployed nothing: a failure before any change, or destroy / janitor. */
const plainOutputs = (status: string, failureReason = '', tag = ''): Outputs => ({
  image: '',
  digest: '',
  tag,
  status,
  'rolled-back': 'false',
  'failure-reason': failureReason,
  revisions: '{}',
  url: '',
  previews: '[]',
});

export const failedOutputs = (reason: string, tag = ''): Outputs => plainOutputs('failed', reason, tag);

type CommandResult = { outputs: Outputs; ok: boolean; message?: string };
/** The edges a command talks through: the cluster, docker, GitHub (for previews) and the log. */
type Edges = Tools & { gh?: GitHub; repository?: string };

/** What the entry point gives a run: the runner's cancellation, and where to leave state for the post step. */
export type RunHooks = { signal?: AbortSignal; remember?: (key: string, value: string) => void };

async function destroyCommand(inputs: Inputs, { kube, gh, repository, reporter }: Edges): Promise<CommandResult> {
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : inputs.namespace;
  if (!namespace) throw new UserError("input 'preview': destroy needs the preview's PR number (or a namespace)");
  const existed = await destroy(kube, namespace, inputs.preview, { repository, gh }, reporter);
  await bestEffort(reporter, 'writing the job summary', () =>
    reporter.summary(`## 🧹 Preview destroyed\n\nNamespace \`${namespace}\` ${existed ? 'deleted' : 'was already gone'}.\n`),
  );
  return { outputs: plainOutputs('destroyed'), ok: true };
}

/** What the janitor did with a preview, for its summary table. */
const janitorAction = (d: JanitorDecision, dryRun: boolean) =>
  !d.delete ? 'kept' : dryRun ? 'to delete' : d.error ? `⚠️ not deleted: ${d.error.replace(/\|/g, '\\|')}` : 'deleted';

async function janitorCommand(inputs: Inputs, { kube, gh, repository, reporter }: Edges): Promise<CommandResult> {
  const decisions = await janitor(kube, reporter, { gh, repository, pr: inputs.preview, dryRun: inputs.dryRun });
  const rows = decisions.map((d) => `| \`${d.namespace}\` | ${d.pr ? `#${d.pr}` : '—'} | ${janitorAction(d, inputs.dryRun)} | ${d.reason} |`);
  await bestEffort(reporter, 'writing the job summary', () =>
    reporter.summary(['## 🧹 Preview janitor', '', '| namespace | PR | action | why |', '|---|---|---|---|', ...rows, ''].join('\n')),
  );
  const previews = JSON.stringify(decisions.filter((d) => d.delete && !d.error && d.pr).map((d) => d.pr));
  return { outputs: { ...plainOutputs('cleaned'), previews }, ok: true };
}

/** Only the image: built, pushed and pinned, for a workflow that deploys it in a later step. */
async function buildCommand(inputs: Inputs, ctx: RunContext, { docker, reporter }: Edges): Promise<CommandResult> {
  const image = await releaseImage(
    inputs,
    ctx,
    docker,
    (l) => reporter.info(l),
    (l) => reporter.warning(l),
  );
  await bestEffort(reporter, 'writing the job summary', () => reporter.summary(`## 📦 Image built\n\n\`${image.pinned}\`\n`));
  return { outputs: { ...plainOutputs('built', '', inputs.tag), image: image.pinned, digest: image.digest ?? '' }, ok: true };
}

/** A preview goes only into a namespace that is free or already this repository's preview of this PR. */
async function checkPreviewOwnership(inputs: Inputs, { kube, repository }: Edges): Promise<void> {
  if (inputs.preview === undefined) return;
  const namespace = previewNamespace(inputs.preview);
  const labels = await previewLabelsOf(kube, namespace);
  const refusal = labels && ownershipRefusal(namespace, labels, inputs.preview, repository, 'deploy a preview into');
  if (refusal) throw new UserError(refusal);
}

/** A deploy; for a preview, announced on the PR before and concluded after, whatever happens. */
async function deployCommand(inputs: Inputs, ctx: RunContext & { headSha?: string }, edges: Edges, hooks: RunHooks): Promise<CommandResult> {
  const { gh, reporter } = edges;
  const sha = ctx.headSha ?? ctx.sha ?? '';
  const pr = inputs.preview;
  let deploymentId: number | undefined;
  // The PR hears of the preview once its inputs and manifests are known to be good.
  const validated = async () => {
    if (gh && pr !== undefined && !inputs.dryRun)
      deploymentId = await bestEffort(reporter, 'announcing the preview on the PR', () => announce(gh, pr, sha, reporter));
  };
  const started = (state: unknown) => hooks.remember?.('release', JSON.stringify(state));
  const tell = async (r: ReleaseResult) => {
    if (gh && deploymentId !== undefined) await bestEffort(reporter, 'reporting to the PR', () => conclude(gh, pr!, sha, deploymentId!, r));
  };
  let result: ReleaseResult;
  try {
    result = await deploy(inputs, ctx, edges, { validated, started });
    // Finished, unless cancelled: the post step then checks that the restored release is healthy.
    if (result.status !== 'cancelled') hooks.remember?.('finished', 'true');
  } catch (err) {
    await tell({ status: 'failed', rolledBack: false, failureReason: (err as Error).message, rows: [], diagnoses: [], rollback: [] });
    throw err;
  }
  await tell(result);
  await bestEffort(reporter, 'writing the job summary', () => reporter.summary(summaryMarkdown(result)));
  const ok = result.status === 'deployed' || result.status === 'dry-run';
  return { outputs: outputsOf(result), ok, message: ok ? undefined : `${result.status}: ${result.failureReason}` };
}

/** The cluster's door for a run: the given kubeconfig, retries told in the log, stopped on cancel. */
export async function kubectlFor(inputs: Inputs, kubeconfig: string | undefined, reporter: Reporter, signal?: AbortSignal): Promise<Kubectl> {
  const binary = inputs.kubectlVersion ? await installKubectl(inputs.kubectlVersion, (l) => reporter.info(l)) : 'kubectl';
  const kube = new Kubectl(binary, { kubeconfig, onRetry: (l) => reporter.info(l) });
  signal?.addEventListener('abort', () => kube.stopAll(), { once: true });
  return kube;
}

/** Masks every secret input, and each credential inside the kubeconfig. */
export function maskSecrets(inputs: Inputs, reporter: Reporter): void {
  for (const secret of [inputs.registryPassword, inputs.githubToken, inputs.kubeconfig]) if (secret) reporter.setSecret(secret);
  if (inputs.kubeconfig) secretLines(inputs.kubeconfig).forEach((s) => reporter.setSecret(s));
}

/**
 * GitHub, for the commands that talk to it (a preview's deploy, destroy, janitor), when there is a
 * token and a repository to talk about: a token alone (GITHUB_TOKEN in a terminal) is no reason to fail.
 */
function gitHubFor(inputs: Inputs, repository: string | undefined, reporter: Reporter): GitHub | undefined {
  const needed = inputs.command === 'destroy' || inputs.command === 'janitor' || (inputs.command === 'deploy' && inputs.preview !== undefined);
  if (!needed || !inputs.githubToken) return undefined;
  const repo = repoFromEnv(repository);
  if (!repo) {
    reporter.warning(`GITHUB_REPOSITORY is not set (owner/name): nothing is reported to GitHub`);
    return undefined;
  }
  return new GitHub(inputs.githubToken, repo);
}

/** Runs one command; returns the outputs and whether the job should fail. */
export async function runCommand(inputs: Inputs, ctx: RunContext & { headSha?: string }, reporter: Reporter, hooks: RunHooks = {}): Promise<CommandResult> {
  maskSecrets(inputs, reporter);
  let kubeconfig: KubeconfigFile | undefined;
  let dockerConfig: { dir: string; remove: () => void } | undefined;
  let kube: Kubectl | undefined;
  try {
    if (inputs.kubeconfig) {
      kubeconfig = writeKubeconfig(inputs.kubeconfig);
      hooks.remember?.('kubeconfig-dir', path.dirname(kubeconfig.path));
    }
    if (inputs.registryPassword && inputs.build && !inputs.dryRun) {
      dockerConfig = privateDockerConfig();
      hooks.remember?.('docker-config-dir', dockerConfig.dir);
    }
    kube = await kubectlFor(inputs, kubeconfig?.path, reporter, hooks.signal);
    const repository = ctx.repository ?? process.env.GITHUB_REPOSITORY;
    const edges: Edges = {
      kube,
      docker: dockerCli(dockerConfig?.dir),
      gh: gitHubFor(inputs, repository, reporter),
      repository,
      reporter,
      signal: hooks.signal,
    };
    if (inputs.command === 'destroy') return await destroyCommand(inputs, edges);
    if (inputs.command === 'janitor') return await janitorCommand(inputs, edges);
    if (inputs.command === 'build') return await buildCommand(inputs, ctx, edges);
    await checkPreviewOwnership(inputs, edges);
    return await deployCommand(inputs, ctx, edges, hooks);
  } catch (err) {
    const message = (err as Error).message;
    const cancelled = hooks.signal?.aborted ?? false;
    reporter.error(message, cancelled ? 'cancelled' : 'medaudit-deploy');
    await bestEffort(reporter, 'writing the job summary', () => reporter.summary(`## ${cancelled ? '⏹️ Cancelled' : '❌ Failed'}\n\n${message}\n`));
    return { outputs: plainOutputs(cancelled ? 'cancelled' : 'failed', message, inputs.tag), ok: false, message };
  } finally {
    if (kube) reporter.info(countLine(kube.count));
    kubeconfig?.remove();
    dockerConfig?.remove();
  }
}
