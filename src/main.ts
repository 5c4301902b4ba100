// The GitHub Action: inputs from the workflow, one run of the pipeline, outputs and exit code. The
// same bundle runs as the post step, which finishes what a cancelled or killed main step left.
import * as core from '@actions/core';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { InputError } from './errors.js';
import { parseInputs, type Inputs } from './inputs.js';
import { post } from './post.js';
import { githubReporter } from './report/github.js';
import { defaultManifests, failedOutputs, runCommand } from './run.js';

const STATE = { post: 'isPost', release: 'release', finished: 'finished', kubeconfigDir: 'kubeconfig-dir', dockerConfigDir: 'docker-config-dir' } as const;

function readInputs(): Inputs {
  return parseInputs((name) => core.getInput(name), { sha: process.env.GITHUB_SHA, defaultManifests: defaultManifests(core.getInput('preview') !== '') });
}

/**
 * The runner cancels with SIGINT, then SIGTERM 7.5 s later, then kills 2.5 s after that: the first
 * signal aborts the release at once, so that its rollback starts within that window.
 */
function cancellation(): AbortSignal {
  const cancel = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (cancel.signal.aborted) return;
    core.warning(`${signal}: the run is being cancelled; restoring the release that ran before`);
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return cancel.signal;
}

function runContext() {
  const server = process.env.GITHUB_SERVER_URL ?? 'https://github.com';
  const repository = process.env.GITHUB_REPOSITORY;
  const runId = process.env.GITHUB_RUN_ID;
  const runUrl = repository && runId ? `${server}/${repository}/actions/runs/${runId}` : undefined;
  return {
    cwd: process.env.GITHUB_WORKSPACE ?? process.cwd(),
    sha: process.env.GITHUB_SHA,
    runId,
    repositoryUrl: repository ? `${server}/${repository}` : undefined,
    repository,
    headSha: pullRequestHead(),
    // Unique per process: matrix legs share their job's name.
    holder: {
      id: `${repository ?? 'workflow'} run ${runId ?? '?'} attempt ${process.env.GITHUB_RUN_ATTEMPT ?? '1'} job ${process.env.GITHUB_JOB ?? '?'} on ${os.hostname()} pid ${process.pid}`,
      url: runUrl,
    },
  };
}

async function main(): Promise<void> {
  core.saveState(STATE.post, 'true');
  const signal = cancellation();
  let inputs: Inputs;
  try {
    inputs = readInputs();
  } catch (err) {
    const message = err instanceof InputError ? err.message : String(err);
    for (const [k, v] of Object.entries(failedOutputs(message))) core.setOutput(k, v);
    core.setFailed(message);
    return;
  }
  const { outputs, ok, message } = await runCommand(inputs, runContext(), githubReporter, { signal, remember: (key, value) => core.saveState(key, value) });
  for (const [k, v] of Object.entries(outputs)) core.setOutput(k, v);
  if (outputs.status !== 'cancelled') core.saveState(STATE.finished, 'true');
  if (!ok) core.setFailed(message ?? 'failed');
}

async function postStep(): Promise<void> {
  let inputs: Inputs;
  try {
    inputs = readInputs();
  } catch {
    return; // the main step already reported bad inputs
  }
  const saved = {
    release: core.getState(STATE.release) || undefined,
    finished: core.getState(STATE.finished) || undefined,
    kubeconfigDir: core.getState(STATE.kubeconfigDir) || undefined,
    dockerConfigDir: core.getState(STATE.dockerConfigDir) || undefined,
  };
  try {
    await post(inputs, saved, githubReporter);
  } catch (err) {
    core.setFailed(`restoring the release after a cancelled run failed: ${(err as Error).message}`);
  }
}

/** On pull_request events GITHUB_SHA is the merge commit; the preview shows the PR's head. */
function pullRequestHead(): string | undefined {
  const path = process.env.GITHUB_EVENT_PATH;
  if (!path || !existsSync(path)) return undefined;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { pull_request?: { head?: { sha?: string } } }).pull_request?.head?.sha;
  } catch {
    return undefined;
  }
}

void (core.getState(STATE.post) === 'true' ? postStep() : main());
