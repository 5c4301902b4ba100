// What the action and the CLI share around the pipeline: the kubectl to use, the kubeconfig's
// lifetime, masking, and turning a result into outputs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.js';
import { docker } from './image/build.js';
import type { Inputs } from './inputs.js';
import { installKubectl } from './kube/install.js';
import { secretLines, writeKubeconfig } from './kube/kubeconfig.js';
import { Kubectl } from './kube/kubectl.js';
import { deploy, revisionsJson, type RunContext } from './pipeline.js';
import type { Reporter } from './report/reporter.js';
import { summaryMarkdown, type RunResult } from './report/summary.js';


/** The directory holding action.yml and k8s/, wherever the bundle runs from. */
export function actionRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'action.yml'))) {
    const up = path.dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
  return dir;
}

export const defaultManifests = () => path.join(actionRoot(), 'k8s');

export type Outputs = Record<'image' | 'digest' | 'tag' | 'status' | 'rolled-back' | 'failure-reason' | 'revisions' | 'url', string>;

export function outputsOf(r: RunResult): Outputs {
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

export const failedOutputs = (reason: string, tag = ''): Outputs => ({
  image: '',
  digest: '',
  tag,
  status: 'failed',
  'rolled-back': 'false',
  'failure-reason': reason,
  revisions: '{}',
  url: '',
});

/** Runs one command; returns the outputs and whether the job should fail. */
export async function runCommand(inputs: Inputs, ctx: RunContext, reporter: Reporter): Promise<{ outputs: Outputs; ok: boolean; message?: string }> {
  if (inputs.registryPassword) reporter.setSecret(inputs.registryPassword);
  let kubeconfig: { path: string; remove: () => void } | undefined;
  try {
    if (inputs.command !== 'deploy') throw new UserError(`input 'command': '${inputs.command}' needs the preview inputs, which this version does not support yet`);
    if (inputs.kubeconfig) {
      reporter.setSecret(inputs.kubeconfig);
      secretLines(inputs.kubeconfig).forEach((s) => reporter.setSecret(s));
      kubeconfig = writeKubeconfig(inputs.kubeconfig);
    }
    const binary = inputs.kubectlVersion ? await installKubectl(inputs.kubectlVersion, (l) => reporter.info(l)) : 'kubectl';
    const kubectl = new Kubectl(binary, kubeconfig?.path);
    const result = await deploy(inputs, ctx, { kubectl, docker, reporter });
    await reporter.summary(summaryMarkdown(result));
    const ok = result.status === 'deployed' || result.status === 'dry-run';
    return { outputs: outputsOf(result), ok, message: ok ? undefined : `${result.status}: ${result.failureReason}` };
  } catch (err) {
    const message = err instanceof UserError ? err.message : `${(err as Error).message}`;
    reporter.error(message, 'medaudit-deploy');
    await reporter.summary(`## ❌ Failed\n\n${message}\n`);
    return { outputs: failedOutputs(message, inputs.tag), ok: false, message };
  } finally {
    kubeconfig?.remove();
  }
}
