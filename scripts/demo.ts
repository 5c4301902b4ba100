// npm run demo: the main job on the local cluster. Builds the sample Dockerfile.prod, pushes it to
// the local registry and deploys k8s/ through the action (dist/index.js, as GitHub runs it); then
// releases a broken image and shows the automatic rollback; then sums up.
import { kubectl, kubectlJson, REGISTRY, secretsFromExample, tryKubectl } from '../test/support/cluster.js';
import { runAction, sampleWorkspace, type ActionRun } from '../test/support/action.js';
import { forTerminal } from './terminal.js';

const NAMESPACE = 'medaudit';
const IMAGE = `${REGISTRY}/medaudit-backend`;
const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 12);
const say = (s: string) => console.log(`\n\x1b[1;36m== ${s}\x1b[0m`);

async function release(title: string, inputs: Record<string, string>, ws: string): Promise<ActionRun> {
  say(title);
  return runAction({ image: IMAGE, namespace: NAMESPACE, timeout: '5m', ...inputs }, { cwd: ws, onOutput: (c) => process.stdout.write(forTerminal(c)) });
}

async function main(): Promise<void> {
  const ws = sampleWorkspace();
  say(`namespace ${NAMESPACE}: the app's Secret first, as the k8s/ README's quick start does`);
  if (tryKubectl(['get', 'namespace', NAMESPACE]).code !== 0) kubectl(['create', 'namespace', NAMESPACE]);
  if (tryKubectl(['get', 'secret', 'medaudit-secrets', '-n', NAMESPACE]).code !== 0) {
    kubectl(['apply', '-f', '-'], { input: secretsFromExample(NAMESPACE) });
  }
  console.log('secret/medaudit-secrets present (demo values)');

  const good = await release(`release 1: build Dockerfile.prod, push to ${REGISTRY}, deploy k8s/`, { tag: `demo-${stamp}-good` }, ws);
  if (good.code !== 0) throw new Error(`the first release failed: ${good.outputs['failure-reason']}`);
  const goodRevision = kubectlJson(['get', 'deployment', 'backend', '-n', NAMESPACE]).metadata.annotations['deployment.kubernetes.io/revision'];

  const bad = await release(
    'release 2: a broken image (the app crashes at start) — watch it roll back',
    {
      tag: `demo-${stamp}-broken`,
      'build-args': 'SIM_BEHAVIOUR=crash\nSIM_MESSAGE=SECRET_KEY must be at least 32 characters',
    },
    ws,
  );
  const live = kubectlJson(['get', 'deployment', 'backend', '-n', NAMESPACE]);
  const detected = /Failure detected ([\d.]+) s/.exec(bad.summary)?.[1];

  say('summary');
  console.log(`deployed      ${good.outputs.image}  (backend revision ${goodRevision}, ${(good.ms / 1000).toFixed(0)} s)`);
  console.log(`then failed   ${bad.outputs.image || '(not built)'}`);
  console.log(`why           ${bad.outputs['failure-reason']}`);
  console.log(
    `detected      ${detected ?? '?'} s after the first pod of the broken release started (kubectl rollout status would wait progressDeadlineSeconds: ${live.spec.progressDeadlineSeconds} s)`,
  );
  console.log(`rolled back   status=${bad.outputs.status}; backend runs ${live.spec.template.spec.containers[0].image}`);
  console.log(
    `              ${live.spec.template.spec.containers[0].image === good.outputs.image ? 'the exact image of release 1' : 'NOT the image of release 1'}, ${live.status.readyReplicas}/${live.status.replicas} pods ready`,
  );
  console.log('\nthe cluster keeps running. look:  source .cluster/env && kubectl get pods -n medaudit');
  console.log('                          stop:  npm run cluster:down');
  if (bad.outputs.status !== 'rolled-back' || live.spec.template.spec.containers[0].image !== good.outputs.image) process.exit(1);
}

main().catch((err) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
