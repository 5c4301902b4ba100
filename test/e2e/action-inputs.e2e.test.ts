// Bad input never touches anything: one clear error naming the input, file or field, exit code 1,
// nothing built or pushed, and every object in the cluster exactly as it was.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubectl, kubectlJson, REGISTRY, REPO, createAppNamespace, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const ns = uniqueNamespace('medaudit-inputs');
let ws: string;

/** Every object's resourceVersion in the namespace, and the namespace's own. */
function clusterState(): Record<string, string> {
  const kinds = 'deployments,statefulsets,replicasets,configmaps,secrets,services,persistentvolumeclaims,horizontalpodautoscalers,ingresses,networkpolicies,poddisruptionbudgets,serviceaccounts';
  const items = kubectlJson(['get', kinds, '-n', ns]).items as any[];
  const state = Object.fromEntries(items.map((o) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
  state[`Namespace/${ns}`] = kubectlJson(['get', 'namespace', ns]).metadata.resourceVersion;
  return state;
}

async function registryTags(): Promise<string[]> {
  const res = await fetch(`http://${REGISTRY}/v2/medaudit-backend/tags/list`);
  return res.ok ? (((await res.json()) as any).tags ?? []) : [];
}

beforeAll(() => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
  kubectl(['create', 'configmap', 'medaudit-config', '-n', ns, '--from-literal=LOG_LEVEL=INFO']);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const unreachable = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-kc-'));
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
    'users: [{name: u, user: {token: not-a-real-token-value}}]',
    'contexts: [{name: c, context: {cluster: c, user: u}}]',
    'current-context: c',
    `# ${dir}`,
  ].join('\n');
};

const badManifest = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-bad-'));
  const file = path.join(dir, 'deploy.yaml');
  writeFileSync(file, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: Not_A_Label\nspec: {}\n');
  return file;
};

const cases: [string, Record<string, string>, RegExp][] = [
  ['a tag inside image', { image: `${IMAGE}:v1` }, /^input 'image': .*tag/m],
  ['no image', { image: '' }, /input 'image'/],
  ['namespace not a DNS-1123 label', { namespace: 'Bad_Namespace' }, /input 'namespace'/],
  ['timeout that is no duration', { timeout: 'soon' }, /input 'timeout'/],
  ['rollback that is no boolean', { rollback: 'maybe' }, /input 'rollback': expected true or false, got 'maybe'/],
  ['manifests that do not exist', { manifests: 'no/such/dir' }, /input 'manifests': 'no\/such\/dir' does not exist/],
  ['a manifest that does not parse', { manifests: path.join(REPO, 'test', 'fixtures', 'bad', 'broken.yaml') }, /broken\.yaml: does not parse/],
  ['a CHANGE_ME placeholder about to be applied', { manifests: path.join(REPO, 'k8s', 'secrets.yaml.example') }, /secrets\.yaml\.example.*CHANGE_ME/s],
  ['a namespace in a manifest that is not a label', { manifests: '@bad-namespace', namespace: '' }, /deploy\.yaml.*Not_A_Label/s],
  ['a Dockerfile that does not exist', { dockerfile: 'Dockerfile.missing' }, /input 'dockerfile': 'Dockerfile\.missing' does not exist/],
  ['a build-arg without a value', { 'build-args': 'NOEQUALS' }, /input 'build-args'/],
  ['a health-check-url that is not http', { 'health-check-url': 'ftp://example.com/' }, /input 'health-check-url'/],
  ['a registry password without a user', { 'registry-password': 'hunter2-secret' }, /registry-username/],
  ['a kubectl-version that is no version', { 'kubectl-version': 'latest' }, /input 'kubectl-version'/],
  ['an image no manifest names', { image: `${REGISTRY}/some-other-app` }, /no container image in the manifests names/],
  ['an object outside the target namespace', { manifests: path.join(REPO, 'test', 'fixtures', 'bad', 'two-namespaces.yaml'), namespace: '' }, /two-namespaces\.yaml: Deployment\/team-b\/backend: is in namespace 'team-b', not 'team-a'/],
  ['a cluster that does not answer', { kubeconfig: '@unreachable' }, /input 'kubeconfig': the cluster does not answer/],
];

test.each(cases)('%s', async (_name, overrides, message) => {
  const before = clusterState();
  const tagsBefore = await registryTags();
  const inputs: Record<string, string> = { image: IMAGE, namespace: ns, tag: 'bad-input', ...overrides };
  if (inputs.manifests === '@bad-namespace') inputs.manifests = badManifest();
  if (inputs.kubeconfig === '@unreachable') inputs.kubeconfig = unreachable();
  const run = await runAction(inputs, { cwd: ws });
  expect(run.code).toBe(1);
  expect(run.outputs.status).toBe('failed');
  const errors = run.log.split('\n').filter((l) => l.startsWith('::error'));
  // One error annotation for the problem, plus the job's failure line that repeats it.
  expect(errors.length).toBeLessThanOrEqual(2);
  expect(run.outputs['failure-reason']).toMatch(message);
  expect(run.log).not.toMatch(/serverside-applied|Successfully built|Pushed/);
  // The runner swallows ::add-mask:: commands and masks what they name everywhere else.
  const shown = run.log.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
  expect(shown).not.toContain('hunter2-secret');
  expect(shown).not.toContain('not-a-real-token-value');
  if (inputs.kubeconfig) expect(run.log).toContain('::add-mask::not-a-real-token-value');
  expect(clusterState()).toEqual(before);
  expect(await registryTags()).toEqual(tagsBefore);
  expect(await registryTags()).not.toContain('bad-input');
});
