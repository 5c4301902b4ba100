// The docker edge's own logic: the build command line, and which push errors are retried.
import { describe, expect, test } from '@jest/globals';
import { buildArgs, metadataDigest, ociLabels, push, pushedDigest, type Docker } from '../../src/image/build.js';

/** A docker that answers from a script and records what it was asked. */
function scripted(answers: { code: number; stderr?: string }[]): Docker & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(args) {
      calls.push(args);
      const a = answers.shift() ?? { code: 0 };
      return { code: a.code, stdout: '', stderr: a.stderr ?? '' };
    },
  };
}

describe('build command line', () => {
  const req = {
    tagged: 'r/app:v1',
    dockerfile: '/w/Dockerfile.prod',
    context: '/w',
    buildArgs: ['A=1', 'B=two words'],
    labels: ociLabels('https://github.com/acme/app', 'abc123', new Date('2026-01-02T03:04:05Z')),
  };

  test('classic builder: file, tag, OCI labels, build args, context last', () => {
    expect(buildArgs(req)).toEqual([
      'build',
      '--file',
      '/w/Dockerfile.prod',
      '--tag',
      'r/app:v1',
      '--label',
      'org.opencontainers.image.source=https://github.com/acme/app',
      '--label',
      'org.opencontainers.image.revision=abc123',
      '--label',
      'org.opencontainers.image.created=2026-01-02T03:04:05.000Z',
      '--build-arg',
      'A=1',
      '--build-arg',
      'B=two words',
      '/w',
    ]);
  });

  test('buildx pushes as it builds and writes its metadata file (the digest); without a push it loads the image', () => {
    expect(buildArgs(req, { push: true, metadataFile: '/t/m.json' }).slice(0, 5)).toEqual(['buildx', 'build', '--push', '--metadata-file', '/t/m.json']);
    expect(buildArgs(req, { push: false, metadataFile: '/t/m.json' }).slice(0, 3)).toEqual(['buildx', 'build', '--load']);
  });

  test("the digest: BuildKit's metadata, or docker push's report", () => {
    const d = `sha256:${'ab'.repeat(32)}`;
    expect(metadataDigest(JSON.stringify({ 'containerimage.digest': d, 'image.name': 'r/app:v1' }))).toBe(d);
    expect(metadataDigest(JSON.stringify({ 'buildx.build.ref': 'x' }))).toBeUndefined();
    expect(pushedDigest(`The push refers to repository [r/app]\nv1: digest: ${d} size: 735\n`)).toBe(d);
    expect(pushedDigest('nothing')).toBeUndefined();
  });

  test('labels without a source or revision are left out', () => {
    expect(Object.keys(ociLabels(undefined, undefined, new Date(0)))).toEqual(['org.opencontainers.image.created']);
  });
});

describe('push retries', () => {
  test('transient errors are retried, up to the bound', async () => {
    const d = scripted([{ code: 1, stderr: 'read: connection reset by peer' }, { code: 1, stderr: 'received unexpected HTTP status: 503' }, { code: 0 }]);
    const log: string[] = [];
    await push(d, 'r/app:v1', (l) => log.push(l), 3, 1);
    expect(d.calls).toHaveLength(3);
    expect(log).toHaveLength(2);
  });

  test('a transient error on the last attempt fails with it', async () => {
    const d = scripted([
      { code: 1, stderr: 'i/o timeout' },
      { code: 1, stderr: 'i/o timeout' },
    ]);
    await expect(push(d, 'r/app:v1', () => undefined, 2, 1)).rejects.toThrow(/docker push r\/app:v1 failed: i\/o timeout/);
    expect(d.calls).toHaveLength(2);
  });

  test('a denied push is not retried', async () => {
    const d = scripted([{ code: 1, stderr: 'denied: requested access to the resource is denied' }]);
    await expect(push(d, 'r/app:v1', () => undefined, 3, 1)).rejects.toThrow(/denied/);
    expect(d.calls).toHaveLength(1);
  });
});
