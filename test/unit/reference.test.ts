import { describe, expect, test } from '@jest/globals';
import { UserError } from '../../src/errors.js';
import { bareName, formatImageReference, namesRepository, normalizedRepository, parseImageReference, pinImage } from '../../src/image/reference.js';

const HEX = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const DIGEST = `sha256:${HEX}`;

describe('parseImageReference', () => {
  test.each([
    ['redis', { repository: 'redis' }],
    ['redis:7-alpine', { repository: 'redis', tag: '7-alpine' }],
    ['acme/x', { repository: 'acme/x' }],
    ['localhost:5000/app', { registry: 'localhost:5000', repository: 'app' }],
    ['localhost/app:v2', { registry: 'localhost', repository: 'app', tag: 'v2' }],
    ['127.0.0.1:5000/app:v1', { registry: '127.0.0.1:5000', repository: 'app', tag: 'v1' }],
    [`app:v1@${DIGEST}`, { repository: 'app', tag: 'v1', digest: DIGEST }],
    [`app@${DIGEST}`, { repository: 'app', digest: DIGEST }],
    ['docker.io/library/redis:7', { registry: 'docker.io', repository: 'library/redis', tag: '7' }],
    ['registry:5000/a/b/c:tag', { registry: 'registry:5000', repository: 'a/b/c', tag: 'tag' }],
    ['ghcr.io/acme/medaudit-backend', { registry: 'ghcr.io', repository: 'acme/medaudit-backend' }],
    ['Registry.Example.com/a__b/c-d.e', { registry: 'Registry.Example.com', repository: 'a__b/c-d.e' }],
    ['[::1]:5000/app', { registry: '[::1]:5000', repository: 'app' }],
    // Without a dot, a port or 'localhost' the first component is a path, as in Docker.
    ['acme:5000', { repository: 'acme', tag: '5000' }],
    ['registry/app', { repository: 'registry/app' }],
  ])('%s', (text, expected) => {
    expect(parseImageReference(text)).toStrictEqual(expected);
  });

  test.each([
    ['', 'it is empty'],
    ['App:v1', 'lowercase'],
    ['ghcr.io/Acme/app', 'lowercase'],
    ['app:-v1', "'-v1' is not a valid tag"],
    ['app:v1!', "'v1!' is not a valid tag"],
    [`app:${'x'.repeat(129)}`, 'is not a valid tag'],
    ['app@sha256:abc', "'sha256:abc' is not a valid digest"],
    [`app@sha256:${HEX.toUpperCase()}`, 'is not a valid digest'],
    [`app@${HEX}`, 'is not a valid digest'],
    ['my app:v1', 'whitespace'],
    ['/app', 'slash'],
    ['app/', 'slash'],
    ['ghcr.io//app', "'//'"],
    ['ghcr.io/', 'slash'],
    ['app:', "'' is not a valid tag"],
    ['a-/b', "'a-' is not a valid path component"],
    ['bad_host.io:port/app', 'not a valid registry host'],
  ])('rejects %j', (text, reason) => {
    expect(() => parseImageReference(text)).toThrow(UserError);
    expect(() => parseImageReference(text)).toThrow(`invalid image reference '${text}'`);
    expect(() => parseImageReference(text)).toThrow(reason);
  });

  test('accepts a digest of another algorithm with at least 32 hex digits', () => {
    const digest = `sha384:${'c'.repeat(96)}`;
    expect(parseImageReference(`app@${digest}`).digest).toBe(digest);
  });
});

describe('formatImageReference', () => {
  test.each([
    'redis',
    'redis:7-alpine',
    'localhost:5000/app',
    '127.0.0.1:5000/app:v1',
    `app:v1@${DIGEST}`,
    `ghcr.io/acme/x@${DIGEST}`,
    'registry:5000/a/b/c:tag',
  ])('round-trips %s', (text) => {
    expect(formatImageReference(parseImageReference(text))).toBe(text);
  });
});

describe('normalizedRepository', () => {
  test.each([
    ['redis', 'docker.io/library/redis'],
    ['redis:7', 'docker.io/library/redis'],
    ['acme/x', 'docker.io/acme/x'],
    ['docker.io/redis', 'docker.io/library/redis'],
    ['index.docker.io/acme/x', 'docker.io/acme/x'],
    ['ghcr.io/acme/x:v1', 'ghcr.io/acme/x'],
    ['localhost:5000/app', 'localhost:5000/app'],
  ])('%s → %s', (text, expected) => {
    expect(normalizedRepository(parseImageReference(text))).toBe(expected);
  });
});

describe('bareName', () => {
  test.each([
    ['ghcr.io/acme/medaudit-backend', 'medaudit-backend'],
    ['127.0.0.1:5000/medaudit-backend:v1', 'medaudit-backend'],
    ['redis', 'redis'],
  ])('%s → %s', (text, expected) => {
    expect(bareName(parseImageReference(text))).toBe(expected);
  });
});

describe('namesRepository', () => {
  const ghcr = parseImageReference('ghcr.io/acme/medaudit-backend');
  const local = parseImageReference('127.0.0.1:5000/medaudit-backend');

  test.each([
    ['medaudit-backend:latest', ghcr],
    ['medaudit-backend', ghcr],
    [`medaudit-backend@${DIGEST}`, ghcr],
    ['medaudit-backend:latest', local],
    ['ghcr.io/acme/medaudit-backend:v1', ghcr],
    [`ghcr.io/acme/medaudit-backend@${DIGEST}`, ghcr],
    ['127.0.0.1:5000/medaudit-backend:old', local],
  ])('%s names the target', (image, target) => {
    expect(namesRepository(image, target)).toBe(true);
  });

  test.each([
    ['postgres:16-alpine', ghcr],
    ['redis:7-alpine', ghcr],
    ['ghcr.io/other/medaudit-backend-worker', ghcr],
    ['ghcr.io/other/medaudit-backend', ghcr],
    ['acme/medaudit-backend', ghcr],
    ['medaudit-backend-worker:latest', ghcr],
    ['127.0.0.1:5000/medaudit-backend', ghcr],
    ['Medaudit-Backend:latest', ghcr],
    ['not a reference', ghcr],
    ['', ghcr],
  ])('%j does not name the target', (image, target) => {
    expect(namesRepository(image, target)).toBe(false);
  });

  test('an official image is the same repository however it is written', () => {
    expect(namesRepository('docker.io/library/redis:7', parseImageReference('redis'))).toBe(true);
  });
});

describe('pinImage', () => {
  test('drops the tag and keeps the registry', () => {
    expect(pinImage(parseImageReference('ghcr.io/acme/medaudit-backend:v1'), DIGEST)).toBe(`ghcr.io/acme/medaudit-backend@${DIGEST}`);
    expect(pinImage(parseImageReference('localhost:5000/app'), DIGEST)).toBe(`localhost:5000/app@${DIGEST}`);
    expect(pinImage(parseImageReference('app'), DIGEST)).toBe(`app@${DIGEST}`);
  });

  test('replaces a digest already on the target', () => {
    const other = `sha256:${'f'.repeat(64)}`;
    expect(pinImage(parseImageReference(`app@${other}`), DIGEST)).toBe(`app@${DIGEST}`);
  });

  test.each(['sha256:abc', 'abc', '', `sha256:${'A'.repeat(64)}`])('rejects digest %j', (digest) => {
    expect(() => pinImage(parseImageReference('ghcr.io/acme/app'), digest)).toThrow(UserError);
    expect(() => pinImage(parseImageReference('ghcr.io/acme/app'), digest)).toThrow(`'${digest}' is not a valid digest`);
  });
});
