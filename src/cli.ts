#!/usr/bin/env node
// The same pipeline for people at a terminal:
//   medaudit-deploy deploy --image 127.0.0.1:5000/medaudit-backend --manifests k8s [--flag value]...
// Every action input is a flag of the same name; a boolean flag alone means true.
import os from 'node:os';
import { parseArgs, usage } from './cli/args.js';
import { parseInputs } from './inputs.js';
import { consoleReporter } from './report/reporter.js';
import { defaultManifests, runCommand } from './run.js';

/** Ctrl-C stops the release and restores what ran before (a second one kills). */
function cancellation(): AbortSignal {
  const cancel = new AbortController();
  const onSignal = () => {
    if (cancel.signal.aborted) process.exit(130);
    console.error('interrupted: restoring the release that ran before (interrupt again to stop at once)');
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return cancel.signal;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return 0;
  }
  const reporter = consoleReporter();
  try {
    const { command, values } = parseArgs(argv);
    if (!values['registry-password'] && process.env.MEDAUDIT_REGISTRY_PASSWORD) values['registry-password'] = process.env.MEDAUDIT_REGISTRY_PASSWORD;
    if (!values['github-token'] && process.env.GITHUB_TOKEN) values['github-token'] = process.env.GITHUB_TOKEN;
    const inputs = parseInputs((name) => (name === 'command' ? command : (values[name] ?? '')), {
      sha: process.env.GITHUB_SHA,
      defaultManifests: defaultManifests(!!values.preview),
    });
    const holder = { id: `${os.userInfo().username}@${os.hostname()} pid ${process.pid}` };
    const { outputs, ok } = await runCommand(inputs, { cwd: process.cwd(), sha: process.env.GITHUB_SHA, holder }, reporter, { signal: cancellation() });
    for (const [k, v] of Object.entries(outputs)) console.log(`${k}=${v}`);
    return ok ? 0 : 1;
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => process.exit(code));
