// What the action and the CLI share around the pipeline: the kubectl to use, the kubeconfig's
// lifetime, masking, and turning a result into outputs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.js';
import { dockerCli, privateDockerConfig } from './image/build.js';
import type { Inputs } from './inputs.js';
import { installKubectl } from './kube/install.js';
import { secretLines, writeKubeconfig, type KubeconfigFile } from './kube/kubeconfig.js';
import { countLine, Kubectl } from './kube/kubectl.js';
import { deploy, type RunContext, type Tools } from './pipeline.js';
import { GitHub } from './github/api.js';
import { announce, conclude, destroy, janitor } from './preview/lifecycle.js';
import { previewNamespace } from './preview/names.js';
import { bestEffort, type Reporter } from './report/reporter.js';
import { summaryMarkdown } from './report/summary.js';
import { revisionsJson, type ReleaseResult } from './result.js';

/** The directory holding action.yml and k8s/, wherever the bundle runs from. */
function actionRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'action.yml'))) {
    const up = path.dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
  return dir;
}

/** The manifests shipped with the action: k8s/, or its preview overlay for a preview. */
export const defaultManifests = (preview = false) => path.join(actionRoot(), 'k8s', ...(preview ? ['overlays', 'preview'] : []));

export type Outputs = Record<'image' | 'digest' | 'tag' | 'status' | 'rolled-back' | 'failure-reason' | 'revisions' | 'url', string>;

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
});

export const failedOutputs = (reason: string, tag = ''): Outputs => plainOutputs('failed', reason, tag);

type CommandResult = { outputs: Outputs; ok: boolean; message?: string };
/** The edges a command talks through: the cluster, docker, GitHub (for previews) and the log. */
type Edges = Tools & { gh?: GitHub };

/** What the entry point gives a run: the runner's cancellation, and where to leave state for the post step. */
export type RunHooks = { signal?: AbortSignal; remember?: (key: string, value: string) => void };

async function destroyCommand(inputs: Inputs, { kube, gh, reporter }: Edges): Promise<CommandResult> {
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : inputs.namespace;
  if (!namespace) throw new UserError("input 'preview': destroy needs the preview's PR number (or a namespace)");
  const existed = await destroy(kube, namespace, inputs.preview, gh, reporter);
  await bestEffort(reporter, 'writing the job summary', () =>
    reporter.summary(`## 🧹 Preview destroyed\n\nNamespace \`${namespace}\` ${existed ? 'deleted' : 'was already gone'}.\n`),
  );
  return { outputs: plainOutputs('destroyed'), ok: true };
}

async function janitorCommand({ kube, gh, reporter }: Edges): Promise<CommandResult> {
  const decisions = await janitor(kube, gh, reporter);
  const rows = decisions.map((d) => `| \`${d.namespace}\` | ${d.pr ? `#${d.pr}` : '—'} | ${d.delete ? 'deleted' : 'kept'} | ${d.reason} |`);
  await bestEffort(reporter, 'writing the job summary', () =>
    reporter.summary(['## 🧹 Preview janitor', '', '| namespace | PR | action | why |', '|---|---|---|---|', ...rows, ''].join('\n')),
  );
  return { outputs: plainOutputs('cleaned'), ok: true };
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
    const gh = inputs.githubToken ? new GitHub(inputs.githubToken) : undefined;
    const edges: Edges = { kube, docker: dockerCli(dockerConfig?.dir), gh, reporter, signal: hooks.signal };
    if (inputs.command === 'destroy') return await destroyCommand(inputs, edges);
    if (inputs.command === 'janitor') return await janitorCommand(edges);
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
