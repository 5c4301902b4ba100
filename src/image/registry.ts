// Reading a manifest digest back from the registry over the Distribution API, with the
// bearer-token challenge registries such as ghcr.io and Docker Hub use.
import { normalizedRepository, type ImageReference } from './reference.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export type Credentials = { username: string; password: string };

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/** Registry host and repository path as the API wants them (Docker Hub's own host and library/). */
export function endpoint(ref: ImageReference): { base: string; repository: string } {
  const full = normalizedRepository(ref);
  const slash = full.indexOf('/');
  let host = full.slice(0, slash);
  const repository = full.slice(slash + 1);
  if (host === 'docker.io') host = 'registry-1.docker.io';
  // Plain HTTP only where docker itself allows it without configuration: loopback.
  const scheme = LOOPBACK.test(host) ? 'http' : 'https';
  return { base: `${scheme}://${host}`, repository };
}

async function token(challenge: string, creds?: Credentials): Promise<string | undefined> {
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  if (!params.realm) return undefined;
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  if (params.scope) url.searchParams.set('scope', params.scope);
  const headers: Record<string, string> = {};
  if (creds) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const res = await fetch(url, { headers });
  if (!res.ok) return undefined;
  const body = (await res.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token;
}

/** The digest the registry serves for a tag (or digest), or undefined when it has no such manifest. */
export async function manifestDigest(ref: ImageReference, creds?: Credentials): Promise<string | undefined> {
  const { base, repository } = endpoint(ref);
  const url = `${base}/v2/${repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`;
  const headers: Record<string, string> = { Accept: ACCEPT };
  let res = await fetch(url, { method: 'HEAD', headers });
  if (res.status === 401) {
    // A Bearer challenge names a token service; a Basic one (htpasswd registries) takes the credentials as they are.
    const challenge = res.headers.get('www-authenticate') ?? '';
    const bearer = /^bearer /i.test(challenge) ? await token(challenge, creds) : undefined;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    else if (creds) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    res = await fetch(url, { method: 'HEAD', headers });
  }
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`registry ${base} answered ${res.status} for ${repository}`);
  return res.headers.get('docker-content-digest') ?? undefined;
}
