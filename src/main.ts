// The GitHub Action: inputs from the workflow, one run of the pipeline, outputs and exit code.
import * as core from '@actions/core';
import { existsSync, readFileSync } from 'node:fs';
import { InputError } from './errors.js';
import { parseInputs } from './inputs.js';
import { githubReporter } from './report/github.js';
import { defaultManifests, failedOutputs, runCommand } from './run.js';

async function main(): Promise<void> {
  let inputs;
  try {
    inputs = parseInputs((name) => core.getInput(name), { sha: process.env.GITHUB_SHA, defaultManifests: defaultManifests(core.getInput('preview') !== '') });
  } catch (err) {
    const message = err instanceof InputError ? err.message : String(err);
    for (const [k, v] of Object.entries(failedOutputs(message))) core.setOutput(k, v);
    core.setFailed(message);
    return;
  }
  const server = process.env.GITHUB_SERVER_URL ?? 'https://github.com';
  const { outputs, ok, message } = await runCommand(
    inputs,
    {
      cwd: process.env.GITHUB_WORKSPACE ?? process.cwd(),
      sha: process.env.GITHUB_SHA,
      runId: process.env.GITHUB_RUN_ID,
      repositoryUrl: process.env.GITHUB_REPOSITORY ? `${server}/${process.env.GITHUB_REPOSITORY}` : undefined,
      repository: process.env.GITHUB_REPOSITORY,
      headSha: pullRequestHead(),
    },
    githubReporter,
  );
  for (const [k, v] of Object.entries(outputs)) core.setOutput(k, v);
  if (!ok) core.setFailed(message ?? 'failed');
}

/** On pull_request events GITHUB_SHA is the merge commit; the preview shows the PR's head. */
function pullRequestHead(): string | undefined {
  const path = process.env.GITHUB_EVENT_PATH;
  if (!path || !existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')).pull_request?.head?.sha;
  } catch {
    return undefined;
  }
}

void main();
