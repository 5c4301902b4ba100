// The action's inputs, checked up front so that a typo fails the job before
// anything is built or applied. Reading goes through `get` to keep this pure.
import { InputError } from './errors.js';
import { formatImageReference, isValidTag, parseImageReference } from './image/reference.js';
import { isDns1123Label } from './manifests/validate.js';
import { DEFAULT_FAILURES_ALLOWED, DEFAULT_STABLE_SECONDS } from './rollout/verdict.js';

export type Command = 'deploy' | 'build' | 'destroy' | 'janitor';

export type Inputs = {
  command: Command;
  manifests: string[];
  image: string;
  tag: string;
  dockerfile: string;
  context: string;
  buildArgs: string[];
  build: boolean;
  push: boolean;
  registryUsername?: string;
  registryPassword?: string;
  namespace?: string;
  kubeconfig?: string;
  kubectlVersion?: string;
  timeoutSeconds: number;
  lockTimeoutSeconds: number;
  healthCheckUrl?: string;
  healthCheckStatus: number;
  healthCheckRetries: number;
  soakSeconds: number;
  /** Failures a new pod's container may have before they count (0: fail on the first signal). */
  failuresAllowed: number;
  /** Seconds a container without a readiness probe must keep running before its pod counts. */
  stableSeconds: number;
  rollback: boolean;
  /** On a failed first install, delete what it created (Helm's atomic) instead of keeping it for debugging. */
  deleteFailedInstall: boolean;
  dryRun: boolean;
  preview?: number;
  previewDomain?: string;
  githubToken?: string;
  fieldManager: string;
};

type Get = (name: string) => string;

const COMMANDS: readonly Command[] = ['deploy', 'build', 'destroy', 'janitor'];
/** The commands that make an image: they need its repository and a tag. */
const IMAGE_COMMANDS: readonly Command[] = ['deploy', 'build'];
const TRUE_WORDS = ['true', 'yes', '1'];
const FALSE_WORDS = ['false', 'no', '0'];
const SHA_TAG_LENGTH = 12;
const MAX_TIMEOUT_SECONDS = 6 * 60 * 60;
const MAX_SOAK_SECONDS = 60 * 60;
const MAX_FAILURES_ALLOWED = 10;
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const BUILD_ARG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KUBECTL_VERSION = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)$/;
const DNS_1123_SUBDOMAIN_MAX = 253;

const optional = (get: Get, name: string): string | undefined => get(name).trim() || undefined;
const withDefault = (get: Get, name: string, fallback: string): string => optional(get, name) ?? fallback;

function parseBoolean(get: Get, name: string, fallback: boolean): boolean {
  const text = optional(get, name);
  if (text === undefined) return fallback;
  if (TRUE_WORDS.includes(text.toLowerCase())) return true;
  if (FALSE_WORDS.includes(text.toLowerCase())) return false;
  throw new InputError(name, `expected true or false, got '${text}'`);
}

function checkRange(name: string, value: number, min: number, max: number, unit = ''): number {
  if (value < min || value > max) throw new InputError(name, `must be between ${min}${unit} and ${max}${unit}, got ${value}${unit}`);
  return value;
}

function parseInteger(get: Get, name: string, fallback: number, min: number, max: number): number {
  const text = optional(get, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new InputError(name, `expected a whole number, got '${text}'`);
  return checkRange(name, Number(text), min, max);
}

/** Seconds in '300', '90s', '5m', '1m30s' or '1h'. */
export function parseDuration(text: string, input: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const match = DURATION.exec(trimmed);
  if (!match || trimmed === '') {
    throw new InputError(input, `expected a duration such as '300', '90s', '5m' or '1m30s', got '${text}'`);
  }
  const [, hours = '0', minutes = '0', seconds = '0'] = match;
  return Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

function parseDurationInput(get: Get, name: string, fallback: number, min: number, max: number): number {
  const text = optional(get, name);
  return text === undefined ? fallback : checkRange(name, parseDuration(text, name), min, max, 's');
}

function parseCommand(get: Get): Command {
  const text = withDefault(get, 'command', 'deploy');
  if (!(COMMANDS as readonly string[]).includes(text)) {
    throw new InputError('command', `expected one of ${COMMANDS.join(', ')}, got '${text}'`);
  }
  return text as Command;
}

const splitList = (text: string, separators: RegExp) =>
  text
    .split(separators)
    .map((item) => item.trim())
    .filter((item) => item !== '');

function parseManifests(get: Get, defaultManifests: string): string[] {
  const listed = splitList(get('manifests'), /[\n,]/);
  return listed.length > 0 ? listed : [defaultManifests];
}

// The tag has its own input so that one image input serves every commit.
function parseImage(get: Get, command: Command): string {
  const text = optional(get, 'image');
  if (text === undefined) {
    if (IMAGE_COMMANDS.includes(command))
      throw new InputError('image', `required for ${command}: the repository to build and push, such as ghcr.io/acme/medaudit-backend`);
    return '';
  }
  let ref;
  try {
    ref = parseImageReference(text);
  } catch (error) {
    throw new InputError('image', (error as Error).message);
  }
  if (ref.tag !== undefined || ref.digest !== undefined) {
    const repository = formatImageReference({ registry: ref.registry, repository: ref.repository });
    throw new InputError('image', `'${text}' carries a tag or digest; give the repository only ('${repository}') and the tag in 'tag'`);
  }
  return text;
}

function parseTag(get: Get, command: Command, sha: string | undefined): string {
  const given = optional(get, 'tag');
  const derived = sha ? `sha-${sha.slice(0, SHA_TAG_LENGTH)}` : undefined;
  const tag = given ?? derived;
  if (tag === undefined) {
    if (IMAGE_COMMANDS.includes(command)) throw new InputError('tag', 'no tag given and no commit SHA to derive one from');
    return '';
  }
  if (!isValidTag(tag)) {
    throw new InputError('tag', `'${tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
  }
  return tag;
}

function parseBuildArgs(get: Get): string[] {
  const args = splitList(get('build-args'), /\r?\n/);
  for (const arg of args) {
    const key = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : undefined;
    if (key === undefined || !BUILD_ARG_KEY.test(key)) {
      throw new InputError('build-args', `expected KEY=VALUE lines with KEY made of letters, digits and '_', got '${arg}'`);
    }
  }
  return args;
}

function parseRegistryCredentials(get: Get): { registryUsername?: string; registryPassword?: string } {
  const registryUsername = optional(get, 'registry-username');
  const registryPassword = optional(get, 'registry-password');
  if ((registryUsername === undefined) !== (registryPassword === undefined)) {
    const missing = registryUsername === undefined ? 'registry-username' : 'registry-password';
    throw new InputError(missing, "'registry-username' and 'registry-password' must be given together");
  }
  return { registryUsername, registryPassword };
}

function parseNamespace(get: Get): string | undefined {
  const namespace = optional(get, 'namespace');
  if (namespace !== undefined && !isDns1123Label(namespace)) {
    throw new InputError('namespace', `'${namespace}' is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)`);
  }
  return namespace;
}

function parseKubectlVersion(get: Get): string | undefined {
  const text = optional(get, 'kubectl-version');
  if (text === undefined) return undefined;
  const match = KUBECTL_VERSION.exec(text);
  if (!match) throw new InputError('kubectl-version', `expected a version such as v1.34.4, got '${text}'`);
  return `v${match[1]}`;
}

function parseHealthCheckUrl(get: Get): string | undefined {
  const text = optional(get, 'health-check-url');
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError('health-check-url', `'${text}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError('health-check-url', `expected an http:// or https:// URL, got '${text}'`);
  }
  return text;
}

function parsePreview(get: Get): number | undefined {
  const text = optional(get, 'preview');
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < 1 || !Number.isSafeInteger(number)) {
    throw new InputError('preview', `expected a pull request number, got '${text}'`);
  }
  return number;
}

// The domain becomes part of an Ingress host, where the API server accepts
// only a lowercase DNS-1123 subdomain.
function parsePreviewDomain(get: Get): string | undefined {
  const domain = optional(get, 'preview-domain');
  if (domain === undefined) return undefined;
  if (domain.length > DNS_1123_SUBDOMAIN_MAX || !domain.split('.').every(isDns1123Label)) {
    throw new InputError('preview-domain', `'${domain}' is not a lowercase DNS name such as preview.example.com`);
  }
  return domain;
}

export function parseInputs(get: Get, ctx: { sha?: string; defaultManifests: string }): Inputs {
  const command = parseCommand(get);
  return {
    command,
    manifests: parseManifests(get, ctx.defaultManifests),
    image: parseImage(get, command),
    tag: parseTag(get, command, ctx.sha),
    dockerfile: withDefault(get, 'dockerfile', 'Dockerfile.prod'),
    context: withDefault(get, 'context', '.'),
    buildArgs: parseBuildArgs(get),
    build: parseBoolean(get, 'build', true),
    push: parseBoolean(get, 'push', true),
    ...parseRegistryCredentials(get),
    namespace: parseNamespace(get),
    kubeconfig: optional(get, 'kubeconfig'),
    kubectlVersion: parseKubectlVersion(get),
    timeoutSeconds: parseDurationInput(get, 'timeout', 300, 1, MAX_TIMEOUT_SECONDS),
    lockTimeoutSeconds: parseDurationInput(get, 'lock-timeout', 600, 0, MAX_TIMEOUT_SECONDS),
    healthCheckUrl: parseHealthCheckUrl(get),
    healthCheckStatus: parseInteger(get, 'health-check-status', 200, 100, 599),
    healthCheckRetries: parseInteger(get, 'health-check-retries', 5, 1, 100),
    soakSeconds: parseDurationInput(get, 'soak', 0, 0, MAX_SOAK_SECONDS),
    failuresAllowed: parseInteger(get, 'failures-allowed', DEFAULT_FAILURES_ALLOWED, 0, MAX_FAILURES_ALLOWED),
    stableSeconds: parseDurationInput(get, 'stability-window', DEFAULT_STABLE_SECONDS, 0, MAX_SOAK_SECONDS),
    rollback: parseBoolean(get, 'rollback', true),
    deleteFailedInstall: parseBoolean(get, 'delete-failed-install', false),
    dryRun: parseBoolean(get, 'dry-run', false),
    preview: parsePreview(get),
    previewDomain: parsePreviewDomain(get),
    githubToken: optional(get, 'github-token'),
    fieldManager: withDefault(get, 'field-manager', 'medaudit-deploy'),
  };
}
