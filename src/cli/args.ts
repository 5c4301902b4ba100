// The terminal's arguments, named exactly as the action's inputs: every input is a flag of the
// same name; a boolean flag alone means true.
import { UserError } from '../errors.js';

export const FLAGS = [
  ['image', 'repository to build, push and deploy (required)'],
  ['tag', 'tag to build (default sha-<12 chars of GITHUB_SHA>)'],
  ['manifests', 'kustomize directory, or files and directories (default: the shipped k8s/)'],
  ['namespace', 'target namespace (default: the one in the manifests)'],
  ['dockerfile', 'default Dockerfile.prod'],
  ['context', 'build context, default .'],
  ['build-args', 'KEY=VALUE; repeat the flag for several'],
  ['build', 'true|false: false deploys an existing tag'],
  ['push', 'true|false'],
  ['registry-username', ''],
  ['registry-password', 'read from MEDAUDIT_REGISTRY_PASSWORD when not given'],
  ['kubeconfig', 'kubeconfig content; default: KUBECONFIG or ~/.kube/config'],
  ['kubectl-version', 'install and verify this kubectl'],
  ['timeout', 'rollout budget, e.g. 5m'],
  ['lock-timeout', 'wait this long for another deploy into the namespace (default 10m)'],
  ['health-check-url', ''],
  ['health-check-status', 'default 200'],
  ['health-check-retries', 'default 5'],
  ['soak', 'seconds to keep watching after Ready'],
  ['failures-allowed', 'failures a new pod may have before they count (default 1; 0: fail on the first)'],
  ['stability-window', 'how long a container without a readiness probe must run (default 5s)'],
  ['rollback', 'true|false (default true)'],
  ['delete-failed-install', 'true|false: a failed first install deletes what it created (default false)'],
  ['dry-run', 'validate, server-side dry run and diff only'],
  ['field-manager', 'default medaudit-deploy'],
  ['preview', 'PR number: deploy (or destroy, or clean up) the preview medaudit-pr-<N>'],
  ['preview-domain', 'preview hosts are pr-<N>.<domain>'],
  ['github-token', 'for the preview comment and deployments (or GITHUB_TOKEN; used with GITHUB_REPOSITORY)'],
] as const;
const BOOLEAN = new Set(['build', 'push', 'rollback', 'dry-run', 'delete-failed-install']);

export function usage(): string {
  return [
    'usage: medaudit-deploy [deploy|build|destroy|janitor] --image REPOSITORY [--flag value]...',
    '',
    ...FLAGS.map(([f, d]) => `  --${f.padEnd(22)} ${d}`),
    '',
    'Exit code 0: deployed (or dry run). 1: failed or rolled back, or bad input.',
  ].join('\n');
}

/** argv → input values, named exactly as the action's inputs. */
export function parseArgs(argv: string[]): { command: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  let command = 'deploy';
  const known = new Set<string>(FLAGS.map(([f]) => f));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      if (i === 0) command = a;
      else throw new UserError(`unexpected argument '${a}'`);
      continue;
    }
    const [flag, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (!known.has(flag)) throw new UserError(`unknown flag --${flag} (see --help)`);
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (BOOLEAN.has(flag) && (next === undefined || next.startsWith('--'))) value = 'true';
      else if (next === undefined) throw new UserError(`--${flag} needs a value`);
      else value = argv[++i];
    }
    values[flag] = flag === 'build-args' && values[flag] ? `${values[flag]}\n${value}` : value;
  }
  return { command, values };
}
