// What the action and the CLI share around the pipeline: the kubectl to use, the kubeconfig's
// lifetime, masking, and turning a result into outputs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.js';
import { docker } from './image/build.js';
import type { Inputs } from './inputs.js';
import { installKubectl } from './kube/install.js';
import { secretLines, writeKubeconfig, type KubeconfigFile } from './kube/kubeconfig.js';
import { Kubectl } from './kube/kubectl.js';
import { deploy, type RunContext, type Tools } from './pipeline.js';
import { GitHub } from './github/api.js';
import { announce, conclude, destroy, janitor } from './preview/lifecycle.js';
import { previewNamespace } from './preview/names.js';
import type { Reporter } from './report/reporter.js';
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

async function destroyCommand(inputs: Inputs, { kube, gh, reporter }: Edges): Promise<CommandResult> {
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : inputs.namespace;
  if (!namespace) throw new UserError("input 'preview': destroy needs the preview's PR number (or a namespace)");
  const existed = await destroy(kube, namespace, inputs.preview, gh, reporter);
  await reporter.summary(`## 🧹 Preview destroyed\n\nNamespace \`${namespace}\` ${existed ? 'deleted' : 'was already gone'}.\n`);
  return { outputs: plainOutputs('destroyed'), ok: true };
}

async function janitorCommand({ kube, gh, reporter }: Edges): Promise<CommandResult> {
  const decisions = await janitor(kube, gh, reporter);
  const rows = decisions.map((d) => `| \`${d.namespace}\` | ${d.pr ? `#${d.pr}` : '—'} | ${d.delete ? 'deleted' : 'kept'} | ${d.reason} |`);
  await reporter.summary(['## 🧹 Preview janitor', '', '| namespace | PR | action | why |', '|---|---|---|---|', ...rows, ''].join('\n'));
  return { outputs: plainOutputs('cleaned'), ok: true };
}

/** A deploy; for a preview, announced on the PR before and concluded after, whatever happens. */
async function deployCommand(inputs: Inputs, ctx: RunContext & { headSha?: string }, edges: Edges): Promise<CommandResult> {
  const { gh, reporter } = edges;
  const sha = ctx.headSha ?? ctx.sha ?? '';
  const pr = inputs.preview;
  let deploymentId: number | undefined;
  // The PR hears of the preview once its inputs and manifests are known to be good.
  const validated = async () => {
    if (gh && pr !== undefined && !inputs.dryRun) deploymentId = await announce(gh, pr, sha, reporter);
  };
  let result: ReleaseResult;
  try {
    result = await deploy(inputs, ctx, edges, { validated });
  } catch (err) {
    if (gh && deploymentId !== undefined) {
      await conclude(gh, pr!, sha, deploymentId, {
        status: 'failed',
        rolledBack: false,
        failureReason: (err as Error).message,
        rows: [],
        diagnoses: [],
        rollback: [],
      });
    }
    throw err;
  }
  if (gh && deploymentId !== undefined) await conclude(gh, pr!, sha, deploymentId, result);
  await reporter.summary(summaryMarkdown(result));
  const ok = result.status === 'deployed' || result.status === 'dry-run';
  return { outputs: outputsOf(result), ok, message: ok ? undefined : `${result.status}: ${result.failureReason}` };
}

/** Runs one command; returns the outputs and whether the job should fail. */
export async function runCommand(inputs: Inputs, ctx: RunContext & { headSha?: string }, reporter: Reporter): Promise<CommandResult> {
  for (const secret of [inputs.registryPassword, inputs.githubToken]) if (secret) reporter.setSecret(secret);
  let kubeconfig: KubeconfigFile | undefined;
  try {
    if (inputs.kubeconfig) {
      reporter.setSecret(inputs.kubeconfig);
      secretLines(inputs.kubeconfig).forEach((s) => reporter.setSecret(s));
      kubeconfig = writeKubeconfig(inputs.kubeconfig);
    }
    const binary = inputs.kubectlVersion ? await installKubectl(inputs.kubectlVersion, (l) => reporter.info(l)) : 'kubectl';
    const edges: Edges = { kube: new Kubectl(binary, kubeconfig?.path), docker, gh: inputs.githubToken ? new GitHub(inputs.githubToken) : undefined, reporter };
    if (inputs.command === 'destroy') return await destroyCommand(inputs, edges);
    if (inputs.command === 'janitor') return await janitorCommand(edges);
    return await deployCommand(inputs, ctx, edges);
  } catch (err) {
    const message = (err as Error).message;
    reporter.error(message, 'medaudit-deploy');
    await reporter.summary(`## ❌ Failed\n\n${message}\n`);
    return { outputs: failedOutputs(message, inputs.tag), ok: false, message };
  } finally {
    kubeconfig?.remove();
  }
}
