// The post step GitHub runs after the deploy step, also when that step was cancelled or killed:
// a release the step did not finish is returned to what ran before and checked healthy, under the
// namespace's deploy lock; what the step left on the runner (kubeconfig, docker config) is removed.
import { rmSync } from 'node:fs';
import type { Inputs } from './inputs.js';
import { writeKubeconfig } from './kube/kubeconfig.js';
import { bestEffort, type Reporter } from './report/reporter.js';
import { describeStep } from './report/summary.js';
import { rollBack } from './rollout/rollback.js';
import type { ObjectState } from './rollout/restore.js';
import type { Snapshot } from './rollout/snapshot.js';
import { kubectlFor, maskSecrets } from './run.js';
import { DeployLock, type Holder } from './state/lock.js';
import { readRecord, writeRecord } from './state/record.js';

/** What the deploy step left for its post step. */
export type SavedState = { release?: string; finished?: string; kubeconfigDir?: string; dockerConfigDir?: string };
type StartedRelease = { namespace: string; before: Snapshot[]; objects?: ObjectState[]; holder: Holder };

export async function post(inputs: Inputs, saved: SavedState, reporter: Reporter): Promise<void> {
  // A killed step cannot clean up after itself.
  for (const dir of [saved.kubeconfigDir, saved.dockerConfigDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  if (saved.finished === 'true' || !saved.release) return;
  const { namespace, before, objects, holder } = JSON.parse(saved.release) as StartedRelease;
  reporter.warning(`the deploy step did not finish (cancelled or killed): making sure ${namespace} runs the release from before it`);
  maskSecrets(inputs, reporter);
  const kubeconfig = inputs.kubeconfig ? writeKubeconfig(inputs.kubeconfig) : undefined;
  try {
    const kube = await kubectlFor(inputs, kubeconfig?.path, reporter);
    // The lock again (still ours, freed, or expired): a run that took it meanwhile is not disturbed.
    const lock = await DeployLock.acquire(kube, namespace, holder, { timeoutMs: 0, log: (l) => reporter.info(l), warn: (l) => reporter.warning(l) }).catch(
      (err: Error) => {
        reporter.warning(`${err.message.replace(/; nothing was changed$/, '')}: leaving ${namespace} to it`);
        return undefined;
      },
    );
    if (!lock) return;
    try {
      const opts = {
        timeoutMs: Math.max(60_000, inputs.timeoutSeconds * 1000),
        fieldManager: inputs.fieldManager,
        reporter,
        wait: true,
        objects,
        policy: { deleteCreated: inputs.deleteFailedInstall },
      };
      const { steps, healthy } = inputs.rollback ? await rollBack(kube, namespace, before, opts) : { steps: [], healthy: false };
      const record = await readRecord(kube, namespace);
      if (record?.run === holder.id && (record.state === 'in-progress' || record.state === 'cancelled')) {
        const lastGood = healthy && steps.length ? before : record.lastGood;
        await bestEffort(reporter, 'writing the release record', () =>
          writeRecord(kube, namespace, { ...record, state: 'cancelled', finishedAt: new Date().toISOString(), lastGood }, inputs.fieldManager),
        );
      }
      const lines = ['## ⏹️ Cancelled — the previous release restored', '', ...steps.map((s) => `- ${describeStep(s)}`), ''];
      if (!healthy && steps.some((s) => s.action === 'undo')) lines.push('**The restored release is not healthy.**', '');
      await bestEffort(reporter, 'writing the job summary', () => reporter.summary(lines.join('\n')));
    } finally {
      await bestEffort(reporter, 'releasing the deploy lock', () => lock.release());
    }
  } finally {
    kubeconfig?.remove();
  }
}
