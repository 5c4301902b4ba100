import { describe, expect, test } from '@jest/globals';
import { InputError } from '../../src/errors.js';
import { parseDuration, parseInputs, type Inputs } from '../../src/inputs.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const ctx = { sha: SHA, defaultManifests: 'k8s' };
const getter = (values: Record<string, string>) => (name: string) => values[name] ?? '';
const parse = (values: Record<string, string>, context: { sha?: string; defaultManifests: string } = ctx) => parseInputs(getter(values), context);

function inputErrorOf(call: () => unknown): InputError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

const deploy = { image: 'ghcr.io/acme/medaudit-backend' };

describe('parseInputs', () => {
  test('fills in the defaults', () => {
    const expected: Inputs = {
      command: 'deploy',
      manifests: ['k8s'],
      image: 'ghcr.io/acme/medaudit-backend',
      tag: 'sha-0123456789ab',
      dockerfile: 'Dockerfile.prod',
      context: '.',
      buildArgs: [],
      build: true,
      push: true,
      timeoutSeconds: 300,
      lockTimeoutSeconds: 600,
      healthCheckStatus: 200,
      healthCheckRetries: 5,
      soakSeconds: 0,
      failuresAllowed: 1,
      stableSeconds: 5,
      rollback: true,
      deleteFailedInstall: false,
      dryRun: false,
      fieldManager: 'medaudit-deploy',
    };
    expect(parse(deploy)).toEqual(expected);
  });

  test('reads every input', () => {
    const inputs = parse({
      command: 'deploy',
      manifests: 'k8s/overlays/preview\n extra.yaml, more.yaml \n',
      image: 'localhost:5000/medaudit-backend',
      tag: 'v1.2.3',
      dockerfile: 'Dockerfile',
      context: 'backend',
      'build-args': 'VERSION=1.2.3\n\nEMPTY=\nURL=https://x?a=b',
      build: 'no',
      push: 'FALSE',
      'registry-username': 'bot',
      'registry-password': 's3cret',
      namespace: 'medaudit-staging',
      kubeconfig: '/tmp/kubeconfig',
      'kubectl-version': '1.34.4',
      timeout: '1m30s',
      'lock-timeout': '2m',
      'health-check-url': 'https://medaudit.example.com/health',
      'health-check-status': '204',
      'health-check-retries': '10',
      soak: '2m',
      'failures-allowed': '0',
      'stability-window': '30s',
      rollback: '0',
      'delete-failed-install': 'true',
      'dry-run': 'Yes',
      preview: '42',
      'preview-domain': 'preview.example.com',
      'github-token': 'ghs_x',
      'field-manager': 'ci',
    });
    expect(inputs).toEqual({
      command: 'deploy',
      manifests: ['k8s/overlays/preview', 'extra.yaml', 'more.yaml'],
      image: 'localhost:5000/medaudit-backend',
      tag: 'v1.2.3',
      dockerfile: 'Dockerfile',
      context: 'backend',
      buildArgs: ['VERSION=1.2.3', 'EMPTY=', 'URL=https://x?a=b'],
      build: false,
      push: false,
      registryUsername: 'bot',
      registryPassword: 's3cret',
      namespace: 'medaudit-staging',
      kubeconfig: '/tmp/kubeconfig',
      kubectlVersion: 'v1.34.4',
      timeoutSeconds: 90,
      lockTimeoutSeconds: 120,
      healthCheckUrl: 'https://medaudit.example.com/health',
      healthCheckStatus: 204,
      healthCheckRetries: 10,
      soakSeconds: 120,
      failuresAllowed: 0,
      stableSeconds: 30,
      rollback: false,
      deleteFailedInstall: true,
      dryRun: true,
      preview: 42,
      previewDomain: 'preview.example.com',
      githubToken: 'ghs_x',
      fieldManager: 'ci',
    });
  });

  test.each(['destroy', 'janitor'])('%s needs no image and no tag', (command) => {
    const inputs = parse({ command }, { defaultManifests: 'k8s' });
    expect(inputs.command).toBe(command);
    expect(inputs.image).toBe('');
    expect(inputs.tag).toBe('');
  });

  test('keeps v-prefixed kubectl versions', () => {
    expect(parse({ ...deploy, 'kubectl-version': 'v1.34.4' }).kubectlVersion).toBe('v1.34.4');
  });

  test.each([
    ['true', true],
    ['TRUE', true],
    ['yes', true],
    ['1', true],
    ['False', false],
    ['NO', false],
    ['0', false],
    ['', true],
  ])('rollback %j → %s', (text, expected) => {
    expect(parse({ ...deploy, rollback: text }).rollback).toBe(expected);
  });

  test.each([
    [{ command: 'deploy' }, 'image', 'required for deploy'],
    [{ command: 'upgrade' }, 'command', "expected one of deploy, build, destroy, janitor, got 'upgrade'"],
    [{ ...deploy, image: 'ghcr.io/acme/medaudit-backend:v1' }, 'image', "carries a tag or digest; give the repository only ('ghcr.io/acme/medaudit-backend')"],
    [{ ...deploy, image: `app@sha256:${'a'.repeat(64)}` }, 'image', 'carries a tag or digest'],
    [{ ...deploy, image: 'ghcr.io/Acme/app' }, 'image', "invalid image reference 'ghcr.io/Acme/app'"],
    [{ ...deploy, tag: '-bad' }, 'tag', "'-bad' is not a valid tag"],
    [{ ...deploy, 'build-args': 'OK=1\nNOEQUALS' }, 'build-args', "got 'NOEQUALS'"],
    [{ ...deploy, 'build-args': '=value' }, 'build-args', "got '=value'"],
    [{ ...deploy, 'build-args': '1KEY=x' }, 'build-args', "got '1KEY=x'"],
    [{ ...deploy, build: 'maybe' }, 'build', "expected true or false, got 'maybe'"],
    [{ ...deploy, 'dry-run': 'on' }, 'dry-run', "expected true or false, got 'on'"],
    [{ ...deploy, 'registry-password': 'p' }, 'registry-username', "'registry-username' and 'registry-password' must be given together"],
    [{ ...deploy, 'registry-username': 'u' }, 'registry-password', "'registry-username' and 'registry-password' must be given together"],
    [{ ...deploy, namespace: 'MedAudit' }, 'namespace', "'MedAudit' is not a DNS-1123 label"],
    [{ ...deploy, 'kubectl-version': 'latest' }, 'kubectl-version', "got 'latest'"],
    [{ ...deploy, 'kubectl-version': 'v1.34' }, 'kubectl-version', "got 'v1.34'"],
    [{ ...deploy, timeout: '0' }, 'timeout', 'must be between 1s and 21600s, got 0s'],
    [{ ...deploy, timeout: '7h' }, 'timeout', 'got 25200s'],
    [{ ...deploy, timeout: 'soon' }, 'timeout', "got 'soon'"],
    [{ ...deploy, 'health-check-url': 'medaudit.example.com/health' }, 'health-check-url', 'is not a URL'],
    [{ ...deploy, 'health-check-url': 'ftp://medaudit.example.com/' }, 'health-check-url', 'expected an http:// or https:// URL'],
    [{ ...deploy, 'health-check-status': '99' }, 'health-check-status', 'must be between 100 and 599, got 99'],
    [{ ...deploy, 'health-check-status': '2xx' }, 'health-check-status', "expected a whole number, got '2xx'"],
    [{ ...deploy, 'health-check-retries': '0' }, 'health-check-retries', 'must be between 1 and 100, got 0'],
    [{ ...deploy, 'health-check-retries': '101' }, 'health-check-retries', 'got 101'],
    [{ ...deploy, soak: '61m' }, 'soak', 'must be between 0s and 3600s, got 3660s'],
    [{ ...deploy, preview: '0' }, 'preview', "expected a pull request number, got '0'"],
    [{ ...deploy, preview: '#12' }, 'preview', "got '#12'"],
    [{ ...deploy, preview: '1.5' }, 'preview', "got '1.5'"],
    [{ ...deploy, 'preview-domain': 'Preview.Example.com' }, 'preview-domain', 'is not a lowercase DNS name'],
  ])('rejects %j in %s', (values, input, message) => {
    const error = inputErrorOf(() => parse(values));
    expect(error.input).toBe(input);
    expect(error.message).toContain(`input '${input}': `);
    expect(error.message).toContain(message);
  });

  test('a deploy without a tag needs a commit SHA', () => {
    const error = inputErrorOf(() => parse(deploy, { defaultManifests: 'k8s' }));
    expect(error.message).toBe("input 'tag': no tag given and no commit SHA to derive one from");
    expect(parse({ ...deploy, tag: 'v1' }, { defaultManifests: 'k8s' }).tag).toBe('v1');
  });

  test('still checks an image given to destroy', () => {
    expect(inputErrorOf(() => parse({ command: 'destroy', image: 'app:v1' })).input).toBe('image');
  });
});

describe('parseDuration', () => {
  test.each([
    ['300', 300],
    ['90s', 90],
    ['5m', 300],
    ['1m30s', 90],
    ['1h', 3600],
    ['1h2m3s', 3723],
    ['0', 0],
    [' 10s ', 10],
  ])('%j → %d seconds', (text, seconds) => {
    expect(parseDuration(text, 'timeout')).toBe(seconds);
  });

  test.each(['', '5 m', '1.5m', '30s1m', 'm', '-5', '5d', 'PT5M'])('rejects %j, naming the input', (text) => {
    const error = inputErrorOf(() => parseDuration(text, 'soak'));
    expect(error.input).toBe('soak');
    expect(error.message).toBe(`input 'soak': expected a duration such as '300', '90s', '5m' or '1m30s', got '${text}'`);
  });
});
