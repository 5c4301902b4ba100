// Checks the GitHub workflows in .github/workflows against the rules they exist to keep:
// triggers, the reusable deploy's interface, least permissions, concurrency groups that cannot
// deadlock, secrets that are checked and never pasted into scripts, preview teardown that never
// runs pull request code, and every use of this action naming inputs that action.yml declares.
import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

// Tests run compiled from lib/test/unit/.
const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');

// Workflows are plain YAML trees; `any` keeps the probing short.
type Doc = any;
type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, unknown>; id?: string; if?: string; name?: string };

function load(file: string): Doc {
  const doc = YAML.parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw doc.errors[0];
  return doc.toJS();
}

const workflowFiles = readdirSync(WORKFLOWS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const workflows: Record<string, Doc> = Object.fromEntries(workflowFiles.map((f) => [f, load(path.join(WORKFLOWS, f))]));
const action: Doc = load(path.join(ROOT, 'action.yml'));
const actionInputs = Object.keys(action.inputs ?? {});

const deploy = workflows['deploy.yml'];
const release = workflows['release.yml'];
const preview = workflows['preview.yml'];
const ci = workflows['ci.yml'];

const RELEASE_TAG = /^[A-Za-z0-9_.-]+\/medaudit-deploy@v\d+(\.\d+){0,2}$/;
const SELF = /^(\.\/|[A-Za-z0-9_.-]+\/medaudit-deploy@v\d+(\.\d+){0,2})$/;

function jobs(wf: Doc): [string, Doc][] {
  return Object.entries(wf.jobs ?? {});
}

function steps(job: Doc): Step[] {
  return (job.steps ?? []) as Step[];
}

function allSteps(): { file: string; job: string; step: Step }[] {
  return Object.entries(workflows).flatMap(([file, wf]) => jobs(wf).flatMap(([job, j]) => steps(j).map((step) => ({ file, job, step }))));
}

/** A step that runs this action: the local checkout (`./`) or the repository at some ref. */
function isSelf(uses: string | undefined): boolean {
  if (!uses) return false;
  if (uses === './' || uses === '.') return true;
  const [target] = uses.split('@');
  // org/medaudit-deploy, not a reusable workflow file inside it.
  return /^[^/]+\/medaudit-deploy$/.test(target);
}

function isCheckout(step: Step): boolean {
  return typeof step.uses === 'string' && step.uses.startsWith('actions/checkout@');
}

function triggers(wf: Doc): string[] {
  const on = wf.on;
  if (typeof on === 'string') return [on];
  if (Array.isArray(on)) return on;
  return Object.keys(on ?? {});
}

function group(c: Doc): string {
  return typeof c === 'string' ? c : c?.group;
}

describe('the workflow files', () => {
  test('the five workflows exist and parse, each with a name and jobs', () => {
    for (const f of ['ci.yml', 'deploy.yml', 'preview.yml', 'release.yml', 'release-action.yml']) {
      expect(workflows[f]).toBeDefined();
      expect(typeof workflows[f].name).toBe('string');
      expect(jobs(workflows[f]).length).toBeGreaterThan(0);
    }
  });

  test('action.yml runs dist/index.js on node24', () => {
    expect(action.runs.using).toBe('node24');
    expect(action.runs.main).toBe('dist/index.js');
  });

  test('test/tools/actionlint.sh is executable and pins actionlint v1.7.12', () => {
    const script = path.join(ROOT, 'test', 'tools', 'actionlint.sh');
    expect(existsSync(script)).toBe(true);
    expect(statSync(script).mode & 0o111).not.toBe(0);
    expect(readFileSync(script, 'utf8')).toContain('github.com/rhysd/actionlint/cmd/actionlint@$VERSION');
    expect(readFileSync(script, 'utf8')).toMatch(/VERSION=v1\.7\.12/);
  });
});

describe('triggers', () => {
  test('deploy.yml is only a reusable workflow', () => {
    expect(triggers(deploy)).toEqual(['workflow_call']);
  });

  test('release.yml is only started by hand', () => {
    expect(triggers(release)).toEqual(['workflow_dispatch']);
  });

  test('preview.yml: pull_request events, an hourly janitor and a manual start', () => {
    expect(triggers(preview).sort()).toEqual(['pull_request', 'schedule', 'workflow_dispatch']);
    expect([...preview.on.pull_request.types].sort()).toEqual(['closed', 'labeled', 'opened', 'reopened', 'synchronize']);
    expect(preview.on.schedule).toEqual([{ cron: '17 * * * *' }]);
  });

  test('ci.yml: pushes to main and pull requests', () => {
    expect(triggers(ci).sort()).toEqual(['pull_request', 'push']);
    expect(ci.on.push.branches).toContain('main');
  });

  test('no workflow runs on pull_request_target with a checkout or a local action', () => {
    for (const [file, wf] of Object.entries(workflows)) {
      if (!triggers(wf).includes('pull_request_target')) continue;
      for (const [name, job] of jobs(wf)) {
        for (const step of steps(job)) {
          expect({ file, job: name, checkout: isCheckout(step), local: step.uses?.startsWith('./') ?? false }).toEqual({
            file,
            job: name,
            checkout: false,
            local: false,
          });
        }
      }
    }
    expect(triggers(preview)).not.toContain('pull_request_target');
  });
});

describe('deploy.yml: the reusable deploy', () => {
  const call = deploy.on.workflow_call;
  const job = deploy.jobs.deploy;

  test('inputs: names, types and defaults', () => {
    const expected: Record<string, { type: string; default?: unknown; required?: boolean }> = {
      environment: { type: 'string', required: true },
      image: { type: 'string', default: '' },
      dockerfile: { type: 'string', default: 'Dockerfile.prod' },
      context: { type: 'string', default: '.' },
      'build-args': { type: 'string', default: '' },
      scan: { type: 'boolean', default: false },
      'scan-fail-on': { type: 'string', default: 'CRITICAL' },
      tag: { type: 'string', default: '' },
      manifests: { type: 'string', default: 'k8s' },
      namespace: { type: 'string', default: '' },
      timeout: { type: 'string', default: '5m' },
      'health-check-url': { type: 'string', default: '' },
      'dry-run': { type: 'boolean', default: false },
    };
    for (const [name, want] of Object.entries(expected)) {
      const input = call.inputs[name];
      expect({ name, type: input?.type }).toEqual({ name, type: want.type });
      if (want.required) expect({ name, required: input.required }).toEqual({ name, required: true });
      else expect({ name, default: input.default }).toEqual({ name, default: want.default });
    }
  });

  test('inputs are string, number or boolean only (workflow_call has no choice)', () => {
    for (const [name, input] of Object.entries<Doc>(call.inputs)) {
      expect({ name, type: ['string', 'number', 'boolean'].includes(input.type) }).toEqual({ name, type: true });
      if (input.default !== undefined) {
        const jsType = input.type === 'number' ? 'number' : input.type === 'boolean' ? 'boolean' : 'string';
        expect({ name, default: typeof input.default }).toEqual({ name, default: jsType });
      }
    }
  });

  test('secrets: kubeconfig required; registry and app secrets optional', () => {
    expect(call.secrets.kubeconfig.required).toBe(true);
    for (const name of ['registry-username', 'registry-password', 'SECRET_KEY', 'POSTGRES_PASSWORD']) {
      expect({ name, required: call.secrets[name]?.required }).toEqual({ name, required: false });
    }
  });

  test('outputs come from the deploy job, which takes them from the action step', () => {
    for (const name of ['status', 'image', 'url', 'rolled-back']) {
      expect(call.outputs[name].value).toBe(`\${{ jobs.deploy.outputs.${name} }}`);
      expect(job.outputs[name]).toBe(`\${{ steps.deploy.outputs.${name} }}`);
    }
  });

  test('the environment is set inside the called workflow, with the release URL', () => {
    expect(job.environment).toEqual({ name: '${{ inputs.environment }}', url: '${{ steps.deploy.outputs.url }}' });
  });

  test('permissions: none at the top, contents read and packages write on the job', () => {
    expect(deploy.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read', packages: 'write' });
  });

  test('one deploy per environment, queued, on a group that is not github.workflow', () => {
    expect(deploy.concurrency).toBeUndefined();
    expect(job.concurrency).toEqual({ group: 'medaudit-deploy-${{ inputs.environment }}', 'cancel-in-progress': false });
    expect(JSON.stringify(deploy)).not.toMatch(/group[^,}]*github\.workflow/);
  });

  test('the first step checks every required secret through env and fails naming it', () => {
    const first = steps(job)[0];
    expect(first.uses).toBeUndefined();
    const script = first.run ?? '';
    expect(script).toMatch(/::error( [^:]*)?::/);
    expect(script).toMatch(/exit 1/);
    const env = first.env ?? {};
    for (const name of ['kubeconfig', 'SECRET_KEY', 'POSTGRES_PASSWORD']) {
      expect(Object.values(env)).toContain(`\${{ secrets.${name} }}`);
      expect(script).toContain(name);
    }
    expect(script).not.toContain('${{');
  });

  test('checkout, then the app Secret from env values with a private kubeconfig removed at the end', () => {
    const all = steps(job);
    const checkout = all.findIndex(isCheckout);
    expect(checkout).toBe(1);
    expect(all[checkout].with?.['persist-credentials']).toBe(false);
    const writes = all.findIndex((s) => /umask 077/.test(s.run ?? '') && /kubeconfig/i.test(s.run ?? ''));
    const secret = all.findIndex((s) => /kubectl create secret generic medaudit-secrets/.test(s.run ?? ''));
    const build = all.findIndex((s) => s.id === 'build');
    const action = all.findIndex((s) => s.id === 'deploy');
    const cleanup = all.findIndex((s) => s.if === 'always()' && /rm -f/.test(s.run ?? ''));
    expect(checkout).toBeLessThan(writes);
    expect(writes).toBeLessThan(build);
    // The Secret is written only once the image is built and pushed.
    expect(build).toBeLessThan(secret);
    expect(secret).toBeLessThan(action);
    expect(action).toBeLessThan(cleanup);
    expect(all[secret].run).toMatch(/--dry-run=client -o yaml/);
    expect(all[secret].run).toMatch(/kubectl apply/);
    expect(all[secret].env?.SECRET_KEY).toBe('${{ secrets.SECRET_KEY }}');
    expect(all[secret].env?.POSTGRES_PASSWORD).toBe('${{ secrets.POSTGRES_PASSWORD }}');
  });

  test('the build step builds and pushes with the build inputs, unless a dry run', () => {
    const step = steps(job).find((s) => s.id === 'build') as Step;
    expect(step.uses).toMatch(RELEASE_TAG);
    expect(step.if).toBe('${{ !inputs.dry-run }}');
    expect(step.with).toMatchObject({
      command: 'build',
      image: '${{ steps.image.outputs.image }}',
      tag: '${{ inputs.tag }}',
      dockerfile: '${{ inputs.dockerfile }}',
      context: '${{ inputs.context }}',
      'build-args': '${{ inputs.build-args }}',
    });
  });

  test("the image is the input, else the caller's variable MEDAUDIT_IMAGE", () => {
    const step = steps(job).find((s) => s.id === 'image') as Step;
    expect(step.env).toEqual({ IMAGE_INPUT: '${{ inputs.image }}', IMAGE_VARIABLE: '${{ vars.MEDAUDIT_IMAGE }}' });
    expect(step.run).toContain('${IMAGE_INPUT:-$IMAGE_VARIABLE}');
  });

  test('scan: an optional Trivy job the deploy waits for; a dry run or scan false skips it', () => {
    const scan = deploy.jobs.scan;
    expect(scan.if).toBe('inputs.scan && !inputs.dry-run');
    expect(scan.permissions).toEqual({ contents: 'read' });
    expect(steps(scan).some((s) => s.uses?.startsWith('aquasecurity/trivy-action@'))).toBe(true);
    expect(job.needs).toBe('scan');
    expect(job.if).toContain("needs.scan.result == 'skipped'");
    expect(job.if).toContain("needs.scan.result == 'success'");
  });

  test('the deploy step is this action at a release tag, given the inputs and secrets', () => {
    const step = steps(job).find((s) => s.id === 'deploy') as Step;
    expect(step.uses).toMatch(RELEASE_TAG);
    expect(step.with).toMatchObject({
      image: '${{ steps.image.outputs.image }}',
      tag: '${{ steps.build.outputs.tag || inputs.tag }}',
      build: 'false',
      manifests: '${{ inputs.manifests }}',
      namespace: '${{ inputs.namespace }}',
      timeout: '${{ inputs.timeout }}',
      'health-check-url': '${{ inputs.health-check-url }}',
      'dry-run': '${{ inputs.dry-run }}',
      kubeconfig: '${{ secrets.kubeconfig }}',
    });
    expect(String(step.with?.['registry-username'])).toContain('secrets.registry-username');
    expect(String(step.with?.['registry-password'])).toContain('secrets.registry-password');
  });
});

describe('release.yml: the manual release', () => {
  const inputs = release.on.workflow_dispatch.inputs;
  const callers = jobs(release).filter(([, j]) => j.uses === 'org/medaudit-deploy/.github/workflows/deploy.yml@v1');

  test('inputs: environment is a choice of staging and production, and dry-run; no ref: the dispatched commit is released', () => {
    expect(inputs.environment.type).toBe('choice');
    expect(inputs.environment.options).toEqual(['staging', 'production']);
    expect(inputs.environment.required).toBe(true);
    expect(inputs.ref).toBeUndefined();
    expect(inputs['dry-run']).toMatchObject({ type: 'boolean', default: false });
  });

  test('production only from the default branch or a v* tag; the image from MEDAUDIT_IMAGE or ghcr.io', () => {
    const resolve = release.jobs.resolve;
    expect(steps(resolve).some(isCheckout)).toBe(false);
    const [step] = steps(resolve);
    expect(step.env).toMatchObject({ REF: '${{ github.ref }}', DEFAULT_BRANCH: '${{ github.event.repository.default_branch }}' });
    expect(step.run).toContain('"$ENVIRONMENT" == "production" && "$REF" != "refs/heads/$DEFAULT_BRANCH" && "$REF" != refs/tags/v*');
    expect(step.run).toContain('sha=$GITHUB_SHA');
    expect(step.run).toContain('${IMAGE_VARIABLE:-ghcr.io/${OWNER,,}/medaudit-backend}');
  });

  test("calls deploy.yml at the action's release tag once with the environment and the dispatched commit", () => {
    expect(callers).toHaveLength(1);
    const [, job] = callers[0];
    expect(job.needs).toBe('resolve');
    expect(job.with.environment).toBe('${{ inputs.environment }}');
    expect(job.with.tag).toBe('${{ needs.resolve.outputs.tag }}');
    expect(job.with.ref).toBe('${{ needs.resolve.outputs.sha }}');
    expect(job.with.image).toBe('${{ needs.resolve.outputs.image }}');
    expect(job.with.dockerfile).toBe("${{ vars.MEDAUDIT_DOCKERFILE || 'Dockerfile.prod' }}");
    expect(job.with['dry-run']).toBe('${{ inputs.dry-run }}');
    expect(job.environment).toBeUndefined();
    if (job.secrets !== 'inherit') expect(Object.keys(job.secrets)).toEqual(expect.arrayContaining(['kubeconfig']));
  });

  test("passes only deploy.yml's inputs and all of its required ones", () => {
    const declared = deploy.on.workflow_call.inputs;
    for (const [, job] of callers) {
      for (const key of Object.keys(job.with)) expect({ key, declared: key in declared }).toEqual({ key, declared: true });
      for (const [name, input] of Object.entries<Doc>(declared)) {
        if (input.required) expect({ name, given: name in job.with }).toEqual({ name, given: true });
      }
    }
  });

  test('its concurrency group is its own, per environment, queued', () => {
    expect(release.concurrency).toEqual({ group: 'release-${{ inputs.environment }}', 'cancel-in-progress': false });
  });
});

describe('concurrency across caller and callee', () => {
  test("deploy.yml's group differs from every group of every workflow that calls it", () => {
    const callee = group(deploy.jobs.deploy.concurrency);
    expect(callee).not.toContain('github.workflow');
    for (const [file, wf] of Object.entries(workflows)) {
      if (file === 'deploy.yml') continue;
      const calls = jobs(wf).some(([, j]) => typeof j.uses === 'string' && /\.github\/workflows\/deploy\.yml/.test(j.uses));
      if (!calls) continue;
      const groups = [group(wf.concurrency), ...jobs(wf).map(([, j]) => group(j.concurrency))].filter((g) => g !== undefined);
      expect(groups.length).toBeGreaterThan(0);
      for (const g of groups) {
        expect({ file, g, same: g === callee, prefix: g.startsWith('medaudit-deploy-') }).toEqual({ file, g, same: false, prefix: false });
      }
    }
  });
});

describe('permissions', () => {
  const READ_ONLY = new Set(['read', 'none']);

  test('top level is {} or read-only in every workflow, and nothing is write-all', () => {
    for (const [file, wf] of Object.entries(workflows)) {
      expect({ file, declared: wf.permissions !== undefined }).toEqual({ file, declared: true });
      if (typeof wf.permissions === 'string') {
        expect({ file, permissions: wf.permissions }).toEqual({ file, permissions: 'read-all' });
      } else {
        for (const [scope, level] of Object.entries(wf.permissions)) {
          expect({ file, scope, readOnly: READ_ONLY.has(level as string) }).toEqual({ file, scope, readOnly: true });
        }
      }
      expect(JSON.stringify(wf)).not.toContain('write-all');
    }
  });

  test('every job declares its own permissions', () => {
    for (const [file, wf] of Object.entries(workflows)) {
      for (const [name, job] of jobs(wf)) {
        expect({ file, job: name, declared: job.permissions !== undefined }).toEqual({ file, job: name, declared: true });
        expect({ file, job: name, permissions: job.permissions }).not.toEqual({ file, job: name, permissions: 'write-all' });
      }
    }
  });

  test('ci.yml reads contents only', () => {
    expect(ci.permissions).toEqual({ contents: 'read' });
    for (const [, job] of jobs(ci)) expect(job.permissions).toEqual({ contents: 'read' });
  });
});

describe('secrets in scripts', () => {
  test('no run: script contains ${{ secrets.* }}: secrets reach scripts through env', () => {
    for (const { file, job, step } of allSteps()) {
      if (step.run === undefined) continue;
      expect({ file, job, step: step.name, pasted: /\$\{\{[^}]*secrets\./.test(step.run) }).toEqual({ file, job, step: step.name, pasted: false });
    }
  });
});

describe('uses of this action', () => {
  const selfSteps = allSteps().filter(({ step }) => isSelf(step.uses));

  test('there are some, in deploy.yml, preview.yml and ci.yml', () => {
    expect(new Set(selfSteps.map((s) => s.file))).toEqual(new Set(['ci.yml', 'deploy.yml', 'preview.yml']));
  });

  test('every one is ./ or a release tag org/medaudit-deploy@vN[.N.N]', () => {
    for (const { file, job, step } of selfSteps) {
      expect({ file, job, uses: step.uses, ok: SELF.test(step.uses as string) }).toEqual({ file, job, uses: step.uses, ok: true });
    }
  });

  test('every with: key is an input declared in action.yml', () => {
    expect(actionInputs.length).toBeGreaterThan(0);
    for (const { file, job, step } of selfSteps) {
      for (const key of Object.keys(step.with ?? {})) {
        expect({ file, job, key, declared: actionInputs.includes(key) }).toEqual({ file, job, key, declared: true });
      }
    }
  });

  test('other actions are pinned by commit SHA with a version comment; checkout and setup-node at Node 24 majors', () => {
    const pins: Record<string, string> = {};
    for (const file of workflowFiles) {
      for (const line of readFileSync(path.join(WORKFLOWS, file), 'utf8').split('\n')) {
        const m = /^\s*(?:- )?uses: (\S+)(.*)$/.exec(line);
        if (!m || m[1].startsWith('./') || isSelf(m[1]) || m[1].startsWith('org/medaudit-deploy/')) continue;
        expect({ file, uses: m[1], pinned: /^[^@]+@[0-9a-f]{40}$/.test(m[1]) && /^ # v\d+\.\d+\.\d+$/.test(m[2]) }).toEqual({ file, uses: m[1], pinned: true });
        pins[m[1].split('@')[0]] = m[2].trim().slice(2);
      }
    }
    expect(pins).toMatchObject({ 'actions/checkout': 'v7.0.1', 'actions/setup-node': 'v7.0.0' });
  });
});

describe('preview.yml', () => {
  const j = preview.jobs;
  const selfStep = (job: Doc) => steps(job).find((s) => isSelf(s.uses)) as Step;

  test('deploy-preview: same-repository, open, labelled PRs; PR head; the action release tag', () => {
    const job = j['deploy-preview'];
    expect(job.if).toContain("github.event_name == 'pull_request'");
    expect(job.if).toContain("github.event.action != 'closed'");
    expect(job.if).toContain('github.event.pull_request.head.repo.full_name == github.repository');
    expect(job.if).toContain("contains(github.event.pull_request.labels.*.name, 'preview')");
    expect(job.permissions).toEqual({ contents: 'read', packages: 'write', 'pull-requests': 'write', deployments: 'write' });
    expect(job.concurrency).toEqual({ group: 'preview-${{ github.event.pull_request.number }}', 'cancel-in-progress': true });
    const checkout = steps(job).find(isCheckout);
    expect(checkout?.with?.ref).toBe('${{ github.event.pull_request.head.sha }}');
    expect(checkout?.with?.['persist-credentials']).toBe(false);
    const step = selfStep(job);
    // This workflow is copied into the backend repository: the action is this one's release tag,
    // whose shipped preview overlay is the default manifests in preview mode.
    expect(step.uses).toBe('org/medaudit-deploy@v1');
    expect(step.with?.manifests).toBeUndefined();
    expect(step.with).toMatchObject({
      command: 'deploy',
      preview: '${{ github.event.pull_request.number }}',
      'preview-domain': '${{ vars.PREVIEW_DOMAIN }}',
      kubeconfig: '${{ secrets.PREVIEW_KUBECONFIG }}',
      'github-token': '${{ secrets.GITHUB_TOKEN }}',
      'registry-username': "${{ startsWith(steps.image.outputs.image, 'ghcr.io/') && github.actor || '' }}",
      'registry-password': "${{ startsWith(steps.image.outputs.image, 'ghcr.io/') && github.token || '' }}",
    });
  });

  test('fork-notice: forks only, no secrets, no checkout, a notice', () => {
    const job = j['fork-notice'];
    expect(job.if).toContain('github.event.pull_request.head.repo.full_name != github.repository');
    expect(job.if).toContain("github.event.action != 'closed'");
    expect(JSON.stringify(job)).not.toMatch(/secrets\./);
    expect(steps(job).every((s) => s.uses === undefined)).toBe(true);
    expect(job.permissions).toEqual({});
    expect(
      steps(job)
        .map((s) => s.run ?? '')
        .join('\n'),
    ).toMatch(/::notice( [^:]*)?::.*fork/i);
  });

  test('destroy-preview and janitor run a release tag, check out nothing and never touch the PR head', () => {
    for (const name of ['destroy-preview', 'janitor', 'janitor-clean']) {
      const job = j[name];
      expect({ name, checkout: steps(job).some(isCheckout) }).toEqual({ name, checkout: false });
      expect({ name, head: JSON.stringify(job).includes('github.event.pull_request.head') }).toEqual({ name, head: false });
      const uses = steps(job)
        .map((s) => s.uses)
        .filter((u): u is string => u !== undefined);
      expect(uses.length).toBeGreaterThan(0);
      for (const u of uses) expect({ name, u, tag: RELEASE_TAG.test(u) }).toEqual({ name, u, tag: true });
    }
  });

  test('destroy-preview: on close, deletes that preview, cancels its pending deploy', () => {
    const job = j['destroy-preview'];
    expect(job.if).toContain("github.event.action == 'closed'");
    expect(job.permissions).toEqual({ deployments: 'write', 'pull-requests': 'write' });
    expect(group(job.concurrency)).toBe(group(j['deploy-preview'].concurrency));
    expect(selfStep(job).with).toMatchObject({
      command: 'destroy',
      preview: '${{ github.event.pull_request.number }}',
      kubeconfig: '${{ secrets.PREVIEW_KUBECONFIG }}',
      'github-token': '${{ secrets.GITHUB_TOKEN }}',
    });
  });

  test('janitor: on schedule or by hand, lists (a dry run, read-only) what janitor-clean deletes', () => {
    const job = j.janitor;
    expect(job.if).toContain("github.event_name == 'schedule'");
    expect(job.if).toContain("github.event_name == 'workflow_dispatch'");
    expect(job.permissions).toEqual({ 'pull-requests': 'read' });
    expect(job.concurrency).toEqual({ group: 'preview-janitor', 'cancel-in-progress': false });
    expect(selfStep(job).with).toMatchObject({ command: 'janitor', 'dry-run': 'true', kubeconfig: '${{ secrets.PREVIEW_KUBECONFIG }}' });
    expect(job.outputs.previews).toBe('${{ steps.list.outputs.previews }}');
  });

  test("janitor-clean: one preview at a time in that PR's own preview group, allowed to comment", () => {
    const job = j['janitor-clean'];
    expect(job.needs).toBe('janitor');
    expect(job.strategy.matrix.pr).toBe('${{ fromJSON(needs.janitor.outputs.previews) }}');
    expect(job.permissions).toEqual({ deployments: 'write', 'pull-requests': 'write' });
    // The deploy's group, with the matrix's PR number in place of the event's.
    expect(job.concurrency.group.replace('matrix.pr', 'github.event.pull_request.number')).toBe(group(j['deploy-preview'].concurrency));
    expect(job.concurrency['cancel-in-progress']).toBe(false);
    expect(selfStep(job).with).toMatchObject({ command: 'janitor', preview: '${{ matrix.pr }}', 'github-token': '${{ secrets.GITHUB_TOKEN }}' });
  });
});

describe('ci.yml', () => {
  const runs = (job: string) =>
    steps(ci.jobs[job])
      .map((s) => s.run ?? '')
      .join('\n');

  test('lint: Node 24, type-check and actionlint', () => {
    const node = steps(ci.jobs.lint).find((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(String(node?.with?.['node-version'])).toBe('24');
    expect(steps(ci.jobs.lint).some((s) => s.uses?.startsWith('actions/setup-go@'))).toBe(true);
    expect(runs('lint')).toContain('npx tsc --noEmit -p tsconfig.json');
    expect(runs('lint')).toMatch(/test\/tools\/actionlint\.sh|actionlint@v1\.7\.12/);
  });

  test('unit and dist', () => {
    expect(runs('unit')).toMatch(/npm ci/);
    expect(runs('unit')).toContain('npm run test:unit');
    expect(runs('dist')).toContain('npm run package');
    expect(runs('dist')).toMatch(/git diff --exit-code.* -- dist/);
  });

  test('e2e: kind, a local registry, the action from this checkout and a check of its outputs', () => {
    const e2e = steps(ci.jobs.e2e);
    expect(e2e.some((s) => s.uses?.startsWith('helm/kind-action@') || /go install sigs\.k8s\.io\/kind/.test(s.run ?? ''))).toBe(true);
    expect(runs('e2e')).toMatch(/localhost:5000|REGISTRY/);
    expect(runs('e2e')).toContain('busybox-static');
    const deployStep = e2e.find((s) => s.id === 'deploy');
    expect(deployStep?.uses).toBe('./');
    expect(String(deployStep?.with?.dockerfile)).toMatch(/Dockerfile\.prod$/);
    const after = e2e.slice(e2e.indexOf(deployStep as Step) + 1);
    expect(after.some((s) => JSON.stringify(s.env ?? {}).includes('steps.deploy.outputs.status'))).toBe(true);
  });
});
