// Image references, read the way Docker and containerd read them
// (github.com/distribution/reference), so that what we pin is what the
// cluster pulls.
import { UserError } from '../errors.js';

export interface ImageReference {
  registry?: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DEFAULT_REGISTRY = 'docker.io';
// Docker rewrites the legacy index host to docker.io before comparing names.
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_IMAGES_NAMESPACE = 'library';
const MAX_NAME_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const REGISTRY = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const DIGEST_ENCODED = /^[0-9a-fA-F]{32,}$/;
// Registered algorithms have a fixed, lowercase encoding (OCI image spec).
const REGISTERED_DIGESTS: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export const isValidTag = (tag: string): boolean => TAG.test(tag);

function isValidDigest(digest: string): boolean {
  const separator = digest.indexOf(':');
  if (separator < 0) return false;
  const algorithm = digest.slice(0, separator);
  const encoded = digest.slice(separator + 1);
  if (!DIGEST_ALGORITHM.test(algorithm)) return false;
  return (REGISTERED_DIGESTS[algorithm] ?? DIGEST_ENCODED).test(encoded);
}

const invalid = (text: string, reason: string) => new UserError(`invalid image reference '${text}': ${reason}`);

// Docker only treats the first component as a host when it cannot be a path
// component: it has a dot or a port, or it is localhost.
const looksLikeRegistry = (component: string) => component.includes('.') || component.includes(':') || component === 'localhost';

function splitDigest(text: string): { rest: string; digest?: string } {
  const at = text.indexOf('@');
  if (at < 0) return { rest: text };
  return { rest: text.slice(0, at), digest: text.slice(at + 1) };
}

// A ':' after the last '/' starts the tag; one before it is a registry port.
function splitTag(name: string): { name: string; tag?: string } {
  const colon = name.lastIndexOf(':');
  if (colon < 0 || colon < name.lastIndexOf('/')) return { name };
  return { name: name.slice(0, colon), tag: name.slice(colon + 1) };
}

function splitRegistry(name: string): { registry?: string; repository: string } {
  const slash = name.indexOf('/');
  if (slash < 0 || !looksLikeRegistry(name.slice(0, slash))) return { repository: name };
  return { registry: name.slice(0, slash), repository: name.slice(slash + 1) };
}

function checkName(text: string, name: string): void {
  if (name === '') throw invalid(text, 'the repository name is empty');
  if (name.startsWith('/') || name.endsWith('/')) throw invalid(text, 'the name starts or ends with a slash');
  if (name.includes('//')) throw invalid(text, "the name contains '//'");
  if (name.length > MAX_NAME_LENGTH) throw invalid(text, `the name is longer than ${MAX_NAME_LENGTH} characters`);
}

function checkRepository(text: string, repository: string): void {
  for (const component of repository.split('/')) {
    if (component !== component.toLowerCase()) throw invalid(text, 'the repository must be lowercase');
    if (!PATH_COMPONENT.test(component)) throw invalid(text, `'${component}' is not a valid path component`);
  }
}

export function parseImageReference(text: string): ImageReference {
  if (text === '') throw invalid(text, 'it is empty');
  if (/\s/.test(text)) throw invalid(text, 'it contains whitespace');

  const { rest, digest } = splitDigest(text);
  if (digest !== undefined && !isValidDigest(digest)) {
    throw invalid(text, `'${digest}' is not a valid digest (algorithm:hex; sha256 needs 64 lowercase hex digits)`);
  }
  const { name, tag } = splitTag(rest);
  if (tag !== undefined && !isValidTag(tag)) {
    throw invalid(text, `'${tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
  }
  checkName(text, name);
  const { registry, repository } = splitRegistry(name);
  if (registry !== undefined && !REGISTRY.test(registry)) throw invalid(text, `'${registry}' is not a valid registry host`);
  if (repository === '') throw invalid(text, 'the repository name is empty');
  checkRepository(text, repository);

  return {
    ...(registry !== undefined && { registry }),
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry ? `${ref.registry}/` : ''}${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export function normalizedRepository(ref: ImageReference): string {
  const registry = !ref.registry || ref.registry === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : ref.registry;
  const officialImage = registry === DEFAULT_REGISTRY && !ref.repository.includes('/');
  return `${registry}/${officialImage ? `${OFFICIAL_IMAGES_NAMESPACE}/` : ''}${ref.repository}`;
}

export function bareName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}

// Manifests usually name the app image by its bare name ('medaudit-backend:latest')
// and leave the registry to the deploy; that must still count as the target.
export function namesRepository(image: string, target: ImageReference): boolean {
  let ref: ImageReference;
  try {
    ref = parseImageReference(image);
  } catch {
    return false;
  }
  if (normalizedRepository(ref) === normalizedRepository(target)) return true;
  return ref.registry === undefined && !ref.repository.includes('/') && ref.repository === bareName(target);
}

// The tag is dropped: with a digest it would only be ignored, and a stale tag
// next to the digest misleads whoever reads the live object.
export function pinImage(target: ImageReference, digest: string): string {
  if (!isValidDigest(digest)) {
    throw new UserError(`cannot pin '${formatImageReference(target)}': '${digest}' is not a valid digest (algorithm:hex)`);
  }
  return formatImageReference({ registry: target.registry, repository: target.repository, digest });
}
