// Runs the workflows with nektos/act on this host (`-P ubuntu-latest=-self-hosted`), as GitHub's
// runner would: the action and its reusable workflows at `org/medaudit-deploy@v1` are this
// checkout, marketplace actions are the stand-ins of test/workflows/stand-ins, the GitHub API is
// the stand-in of github-fake.ts, the cluster and registry are the local ones. The job's token is
// minted from the job's `permissions:` in the workflow file, so the API stand-in grants exactly those.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { NODE24 } from './action.js';
import { clusterEnv, REPO } from './cluster.js';
import { jobToken, type Access, type Permissions } from './github-fake.js';

const STAND_INS = path.join(REPO, 'test', 'workflows', 'stand-ins');

/** The actions the workflows pin, mapped to their stand-ins (act's --local-repository). */
const PINNED_STAND_INS: Record<string, string> = {
  'actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1': 'actions-checkout',
  'actions/setup-node@820762786026740c76f36085b0efc47a31fe5020': 'actions-setup-node',
  'aquasecurity/trivy-action@ed142fd0673e97e23eac54620cfb913e5ce36c25': 'aquasecurity-trivy-action',
};

const tool = (script: string) => execFileSync('bash', [path.join(REPO, 'test', 'tools', script)], { encoding: 'utf8' }).trim();
let actPath: string | undefined;
/** act, built once into the tool cache (test/tools/act.sh). */
export function act(): string {
  return (actPath ??= tool('act.sh'));
}

let release: string | undefined;
/**
 * The action as a release of it holds it, copied once from the checkout under test: what
 * `org/medaudit-deploy@v1` maps to. act packs a local repository whole for every step that uses
 * it: the checkout itself would mean node_modules and the live cluster's state (files that come
 * and go while other tests run) each time.
 */
export function actionRelease(): string {
  if (release) return release;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-deploy-v1-'));
  for (const entry of ['action.yml', 'package.json', 'dist', 'k8s', '.github'])
    cpSync(path.join(REPO, entry), path.join(dir, entry), { recursive: true, filter: (f) => !f.endsWith(`${path.sep}secrets.yaml`) });
  return (release = dir);
}

let buildxConfig: string | undefined;
/** A docker config holding the buildx plugin: the runner has docker buildx, as GitHub's runners do. */
const withBuildx = () => (buildxConfig ??= tool('buildx.sh'));

const SCOPES = ['actions', 'checks', 'contents', 'deployments', 'issues', 'packages', 'pages', 'pull-requests', 'statuses'];

/** The permissions GitHub gives a job's token: the job's own, else the workflow's (restricted default). */
export function jobPermissions(workflowFile: string, job: string): Permissions {
  const wf = YAML.parse(readFileSync(workflowFile, 'utf8'));
  if (!wf.jobs?.[job]) throw new Error(`${workflowFile} has no job '${job}'`);
  const declared = wf.jobs[job].permissions ?? wf.permissions ?? { contents: 'read', packages: 'read' };
  if (declared === 'read-all' || declared === 'write-all') return Object.fromEntries(SCOPES.map((s) => [s, declared.slice(0, -4) as Access]));
  return Object.fromEntries(SCOPES.map((s) => [s, (declared[s] ?? 'none') as Access]));
}

/** A backend repository as the README lays it out: Dockerfile.prod, the app, k8s/, and its workflows. */
export function backendRepository(owner = 'acme-wf'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-backend-'));
  cpSync(path.join(REPO, 'test', 'fixtures', 'app'), dir, { recursive: true });
  cpSync('/bin/busybox', path.join(dir, 'busybox'));
  cpSync(path.join(REPO, 'k8s'), path.join(dir, 'k8s'), { recursive: true, filter: (f) => !f.endsWith('secrets.yaml') });
  const workflows = path.join(dir, '.github', 'workflows');
  mkdirSync(workflows, { recursive: true });
  for (const f of ['release.yml', 'preview.yml']) cpSync(path.join(REPO, '.github', 'workflows', f), path.join(workflows, f));
  cpSync(path.join(REPO, 'test', 'workflows', 'backend', 'deploy-backend.yml'), path.join(workflows, 'deploy-backend.yml'));
  git(dir, 'init', '--quiet', '--initial-branch=main');
  git(dir, 'remote', 'add', 'origin', `https://github.com/${owner}/medaudit-backend.git`);
  commitAll(dir, 'the backend');
  return dir;
}

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.test', ...args], { cwd: dir, encoding: 'utf8' }).trim();
}

/** Commits everything in the work tree; returns the commit. */
export function commitAll(dir: string, message: string): string {
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** dotenv, as act reads --secret-file and --var-file: double-quoted values with escapes. */
const dotenv = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n');

export type ActOptions = {
  /** The repository act runs in (its origin names github.repository). */
  repo: string;
  event: string;
  workflow: string;
  /** Run this job (and what it needs); its permissions make the token. */
  job: string;
  payload?: object;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  env?: Record<string, string>;
  /** The GitHub API stand-in's URL. */
  api?: string;
  /** The repository the checkout stand-in clones (default: repo). */
  checkoutSource?: string;
};

export type ActRun = { code: number; log: string; ms: number; token: string };

/** The value of `name` an action step set, as act logs it ("::set-output:: name=value"), last one first. */
export function actOutput(log: string, name: string): string | undefined {
  const all = [...log.matchAll(new RegExp(`::set-output:: ${name}=(.*)$`, 'gm'))];
  return all.at(-1)?.[1].trim();
}

/** The Node 24 GitHub runs `using: node24` actions on, first on act's PATH. */
const withNode24 = (env: Record<string, string>) => ({ ...env, PATH: `${path.dirname(NODE24)}:${env.PATH}` });

export async function runAct(o: ActOptions): Promise<ActRun> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medaudit-act-'));
  const token = jobToken(jobPermissions(path.join(o.repo, o.workflow), o.job));
  writeFileSync(path.join(tmp, 'event.json'), JSON.stringify(o.payload ?? {}));
  writeFileSync(path.join(tmp, 'secrets.env'), dotenv({ GITHUB_TOKEN: token, ...o.secrets }), { mode: 0o600 });
  writeFileSync(path.join(tmp, 'vars.env'), dotenv(o.vars ?? {}));
  const env = {
    CHECKOUT_STANDIN_SOURCE: o.checkoutSource ?? o.repo,
    SETUP_NODE_STANDIN_DIR: path.dirname(NODE24),
    ...(o.api ? { GITHUB_API_URL: o.api } : {}),
    ...o.env,
  };
  const args = [
    o.event,
    '--directory',
    o.repo,
    '--workflows',
    o.workflow,
    '--job',
    o.job,
    '--platform',
    'ubuntu-latest=-self-hosted',
    '--no-skip-checkout',
    '--eventpath',
    path.join(tmp, 'event.json'),
    '--secret-file',
    path.join(tmp, 'secrets.env'),
    '--var-file',
    path.join(tmp, 'vars.env'),
    '--action-cache-path',
    path.join(tmp, 'cache'),
    '--no-cache-server',
    '--local-repository',
    `org/medaudit-deploy@v1=${actionRelease()}`,
    ...Object.entries(PINNED_STAND_INS).flatMap(([pin, dir]) => ['--local-repository', `${pin}=${path.join(STAND_INS, dir)}`]),
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
  ];
  const started = Date.now();
  const child = spawn(act(), args, { cwd: o.repo, env: { ...withNode24(clusterEnv()), DOCKER_CONFIG: withBuildx() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c) => (log += c));
  child.stderr.on('data', (c) => (log += c));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  rmSync(tmp, { recursive: true, force: true });
  return { code, log, ms: Date.now() - started, token };
}
