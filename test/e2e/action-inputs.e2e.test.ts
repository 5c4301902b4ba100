// Bad input never touches anything: one clear error naming the input, file or field, exit code 1,
// nothing built or pushed, and every object in the cluster exactly as it was.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAppNamespace, kubectl, kubectlJson, REGISTRY, REPO, tryKubectl, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const ns = uniqueNamespace('medaudit-inputs');
let ws: string;

/** Every object's resourceVersion in the namespace, and the namespace's own. */
function clusterState(): Record<string, string> {
  const kinds =
    'deployments,statefulsets,replicasets,configmaps,secrets,services,persistentvolumeclaims,horizontalpodautoscalers,ingresses,networkpolicies,poddisruptionbudgets,serviceaccounts';
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

/** A manifest file of the bad-input cases: a Namespace and the backend, with `extra` YAML documents. */
function release(name: string, opts: { namespace?: boolean; deployment?: string; extra?: string } = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `medaudit-${name}-`));
  const file = path.join(dir, `${name}.yaml`);
  const deployment =
    opts.deployment ??
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: backend}',
      'spec:',
      '  replicas: 1',
      '  selector: {matchLabels: {app: backend}}',
      '  template:',
      '    metadata: {labels: {app: backend}}',
      '    spec: {containers: [{name: backend, image: medaudit-backend:dev}]}',
    ].join('\n');
  const docs = [
    ...(opts.namespace === false ? [] : ['apiVersion: v1\nkind: Namespace\nmetadata: {name: medaudit}']),
    deployment,
    ...(opts.extra ? [opts.extra] : []),
  ];
  writeFileSync(file, docs.join('\n---\n') + '\n');
  return file;
}

const unknownKind = () => release('unknown-kind', { extra: 'apiVersion: example.com/v1\nkind: Fooo\nmetadata: {name: f}\nspec: {size: 1}' });
const mistyped = () =>
  release('mistyped', {
    deployment:
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: backend}\nspec:\n  replicas: "one"\n  selector: {matchLabels: {app: backend}}\n  template:\n    metadata: {labels: {app: backend}}\n    spec: {containers: [{name: backend, image: medaudit-backend:dev}]}',
  });
const unknownField = () =>
  release('unknown-field', {
    deployment:
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: backend}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: backend}}\n  template:\n    metadata: {labels: {app: backend}}\n    spec: {containers: [{name: backend, image: medaudit-backend:dev, imagePullPolice: Always}]}',
  });
const withoutNamespace = () => release('no-namespace', { namespace: false });

const notYaml = () => 'apiVersion: v1\nkind: Config\n: : this is not yaml\n  - [\n';
const noContext = () => 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n';
const missingContext = () => 'apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters: []\nusers: []\ncontexts: []\n';

type Case = [name: string, inputs: () => Record<string, string>, message: RegExp];
const fixture = (...p: string[]) => path.join(REPO, 'test', 'fixtures', ...p);

/** What only the API server's schema knows: refused on an upgrade and on a first install alike. */
const schemaCases: Case[] = [
  ['an unknown kind', () => ({ manifests: unknownKind() }), /the API server rejects them: .*no matches for kind "Fooo"/s],
  [
    'a field of the wrong type',
    () => ({ manifests: mistyped() }),
    /the API server rejects them: .*(DeploymentSpec\.replicas: got "string", expected "integer"|\.spec\.replicas: expected numeric)/s,
  ],
  [
    'an unknown field',
    () => ({ manifests: unknownField() }),
    /the API server rejects them: .*(unknown field "imagePullPolice"|imagePullPolice: field not declared in schema)/s,
  ],
];

/** Into the existing namespace: an upgrade. */
const upgrades: Case[] = [
  ['a tag inside image', () => ({ image: `${IMAGE}:v1` }), /^input 'image': .*tag/m],
  ['no image', () => ({ image: '' }), /input 'image'/],
  ['namespace not a DNS-1123 label', () => ({ namespace: 'Bad_Namespace' }), /input 'namespace'/],
  ['timeout that is no duration', () => ({ timeout: 'soon' }), /input 'timeout'/],
  ['soak that is no duration', () => ({ soak: 'forever' }), /input 'soak'/],
  ['rollback that is no boolean', () => ({ rollback: 'maybe' }), /input 'rollback': expected true or false, got 'maybe'/],
  ['an unknown command', () => ({ command: 'explode' }), /input 'command'/],
  ['manifests that do not exist', () => ({ manifests: 'no/such/dir' }), /input 'manifests': 'no\/such\/dir' does not exist/],
  ['a manifest that does not parse', () => ({ manifests: fixture('bad', 'broken.yaml') }), /broken\.yaml: does not parse/],
  ['a CHANGE_ME placeholder about to be applied', () => ({ manifests: path.join(REPO, 'k8s', 'secrets.yaml.example') }), /secrets\.yaml\.example.*CHANGE_ME/s],
  ['a namespace in a manifest that is not a label', () => ({ manifests: badManifest(), namespace: '' }), /deploy\.yaml.*Not_A_Label/s],
  ['a Dockerfile that does not exist', () => ({ dockerfile: 'Dockerfile.missing' }), /input 'dockerfile': 'Dockerfile\.missing' does not exist/],
  ['a build context that does not exist', () => ({ context: 'no-such-dir' }), /input 'context': 'no-such-dir' does not exist/],
  ['a build-arg without a value', () => ({ 'build-args': 'NOEQUALS' }), /input 'build-args'/],
  ['a health-check-url that is not http', () => ({ 'health-check-url': 'ftp://example.com/' }), /input 'health-check-url'/],
  ['a health-check-status that is no HTTP status', () => ({ 'health-check-status': '99' }), /input 'health-check-status'/],
  ['health-check-retries of zero', () => ({ 'health-check-retries': '0' }), /input 'health-check-retries'/],
  ['a registry password without a user', () => ({ 'registry-password': 'hunter2-secret' }), /registry-username/],
  ['a kubectl-version that is no version', () => ({ 'kubectl-version': 'latest' }), /input 'kubectl-version'/],
  ['a preview that is no PR number', () => ({ preview: 'abc' }), /input 'preview'/],
  ['a preview-domain that is no DNS name', () => ({ 'preview-domain': 'Bad_Domain' }), /input 'preview-domain'/],
  ['an image no manifest names', () => ({ image: `${REGISTRY}/some-other-app` }), /no container image in the manifests names/],
  ['build false with a tag the registry does not have', () => ({ build: 'false', tag: 'no-such-tag' }), /input 'tag': .*no-such-tag is not in the registry/],
  [
    'an object outside the target namespace',
    () => ({ manifests: fixture('bad', 'two-namespaces.yaml'), namespace: '' }),
    /two-namespaces\.yaml: Deployment\/team-b\/backend: is in namespace 'team-b', not 'team-a'/,
  ],
  ['a cluster that does not answer', () => ({ kubeconfig: unreachable() }), /input 'kubeconfig': the cluster does not answer/],
  ['a kubeconfig that is not YAML', () => ({ kubeconfig: notYaml() }), /^input 'kubeconfig': error loading config file .*yaml: /m],
  ['a kubeconfig without a current context', () => ({ kubeconfig: noContext() }), /^input 'kubeconfig': current-context must exist/m],
  ['a kubeconfig whose current context is missing', () => ({ kubeconfig: missingContext() }), /^input 'kubeconfig': cannot locate context gone/m],
  ...schemaCases,
];

/** Into a namespace that does not exist yet: a first install. */
const firstInstalls: Case[] = [
  ...schemaCases,
  [
    'manifests that do not create the namespace',
    () => ({ manifests: withoutNamespace() }),
    /^input 'namespace': namespace '[^']+' does not exist and the manifests do not create it/m,
  ],
  ['a CHANGE_ME placeholder', () => ({ manifests: path.join(REPO, 'k8s', 'secrets.yaml.example') }), /secrets\.yaml\.example.*CHANGE_ME/s],
  [
    'an image no manifest names',
    () => ({ manifests: release('other-image'), image: `${REGISTRY}/some-other-app` }),
    /no container image in the manifests names/,
  ],
  ['a manifest that does not parse', () => ({ manifests: fixture('bad', 'broken.yaml') }), /broken\.yaml: does not parse/],
  [
    'a cluster that does not answer',
    () => ({ manifests: release('unreachable'), kubeconfig: unreachable() }),
    /input 'kubeconfig': the cluster does not answer/,
  ],
  ['a kubeconfig that is not YAML', () => ({ manifests: release('not-yaml'), kubeconfig: notYaml() }), /^input 'kubeconfig': error loading config file/m],
];

/** One error naming the input, file or field; exit 1; nothing built, pushed or applied; no secret shown. */
async function expectRefused(inputs: Record<string, string>, message: RegExp) {
  const run = await runAction(inputs, { cwd: ws });
  expect(run.code).toBe(1);
  expect(run.outputs.status).toBe('failed');
  const errors = run.log.split('\n').filter((l) => l.startsWith('::error'));
  // One error annotation for the problem, plus the job's failure line that repeats it.
  expect(errors.length).toBeLessThanOrEqual(2);
  expect(run.outputs['failure-reason']).toMatch(message);
  expect(run.log).not.toMatch(/serverside-applied(?! \(server dry run\))|Successfully built|Pushed/);
  // The runner swallows ::add-mask:: commands and masks what they name everywhere else.
  const shown = run.log
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  expect(shown).not.toContain('hunter2-secret');
  expect(shown).not.toContain('not-a-real-token-value');
  if (inputs.kubeconfig?.includes('not-a-real-token-value')) expect(run.log).toContain('::add-mask::not-a-real-token-value');
  // Other files push to the same repository meanwhile: only this run's own tag tells.
  expect(await registryTags()).not.toContain(inputs.tag);
}

/** A tag of its own per case, so a push by any one of them would show. */
let cases = 0;
const badTag = () => `bad-input-${++cases}`;

test.each(upgrades)('upgrade: %s', async (_name, overrides, message) => {
  const before = clusterState();
  await expectRefused({ image: IMAGE, namespace: ns, tag: badTag(), ...overrides() }, message);
  expect(clusterState()).toEqual(before);
});

test.each(firstInstalls)('first install: %s', async (_name, overrides, message) => {
  const fresh = uniqueNamespace('medaudit-first');
  await expectRefused({ image: IMAGE, namespace: fresh, tag: badTag(), ...overrides() }, message);
  expect(tryKubectl(['get', 'namespace', fresh]).stderr).toMatch(/NotFound/);
});

test('the suite covers at least 30 distinct bad inputs, on upgrades and first installs', () => {
  expect(new Set([...upgrades.map(([n]) => `u ${n}`), ...firstInstalls.map(([n]) => `f ${n}`)]).size).toBeGreaterThanOrEqual(30);
});
