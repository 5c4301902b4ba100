// Before anything changes: does the cluster answer, and may this identity do what a deploy and
// a rollback need? Each check is a SelfSubjectAccessReview (`kubectl auth can-i`).
import type { KubeClient } from './client.js';

export type Permission = { verb: string; resource: string; namespaced: boolean };

/**
 * The kubeconfig parses and its current context exists (kubectl's own check), before anything
 * else is run with it: otherwise every later command fails with a message about something else.
 */
export async function checkKubeconfig(kube: KubeClient): Promise<void> {
  const r = await kube.run(['config', 'view', '--minify', '-o', 'jsonpath={.current-context}'], { allowFailure: true });
  if (r.code !== 0) throw new Error((r.stderr || r.stdout).trim().replace(/^error: /, ''));
}

export async function clusterVersion(kube: KubeClient): Promise<string> {
  // A short retry: a cluster that does not answer at the start is a bad kubeconfig, most likely.
  const r = await kube.run(['get', '--raw', '/version'], { retryMs: 5000 });
  return (JSON.parse(r.stdout) as { gitVersion: string }).gitVersion;
}

/** The denied permissions, each as "verb resource". */
export async function missingPermissions(kube: KubeClient, namespace: string, wanted: Permission[]): Promise<string[]> {
  const answers = await Promise.all(
    wanted.map(async (p) => {
      const args = ['auth', 'can-i', p.verb, p.resource, ...(p.namespaced ? ['-n', namespace] : [])];
      const r = await kube.run(args, { allowFailure: true });
      return r.stdout.trim() === 'yes' ? undefined : `${p.verb} ${p.resource}${p.namespaced ? ` in ${namespace}` : ''}`;
    }),
  );
  return answers.filter((a): a is string => !!a);
}
