// What a node learns when it pulls an image: whether the local registry has it, its digest,
// and the labels in its config (where the simulated behaviours are carried).
import http from 'node:http';

export type ImageInfo = { found: true; ref: string; imageID: string; labels: Record<string, string> } | { found: false; ref: string; message: string };

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Splits an image reference into registry host, repository path and tag-or-digest. */
function splitImage(image: string): { host: string; repo: string; ref: string } {
  let rest = image;
  let host = 'docker.io';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      host = first;
      rest = rest.slice(slash + 1);
    }
  }
  const at = rest.indexOf('@');
  if (at >= 0) return { host, repo: rest.slice(0, at).replace(/:[^/]*$/, ''), ref: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) return { host, repo: rest.slice(0, colon), ref: rest.slice(colon + 1) };
  return { host, repo: rest, ref: 'latest' };
}

function get(url: string, accept?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: accept ? { Accept: accept } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url}: timed out`)));
  });
}

export class Registry {
  private readonly cache = new Map<string, { at: number; info: ImageInfo }>();

  constructor(private readonly address: string) {}

  /** Images outside the local registry count as already present on the node (nothing can be pulled here). */
  isLocal(image: string): boolean {
    const { host } = splitImage(image);
    const port = this.address.split(':')[1];
    return host === this.address || host === `localhost:${port}`;
  }

  async inspect(image: string): Promise<ImageInfo> {
    if (!this.isLocal(image)) return { found: true, ref: image, imageID: image, labels: {} };
    const hit = this.cache.get(image);
    // Digests never change; tags may be pushed again, so they are asked for anew after a moment.
    if (hit && (image.includes('@sha256:') || Date.now() - hit.at < 2000)) return hit.info;
    const info = await this.fetch(image);
    this.cache.set(image, { at: Date.now(), info });
    return info;
  }

  private async fetch(image: string): Promise<ImageInfo> {
    const { repo, ref } = splitImage(image);
    const base = `http://${this.address}/v2/${repo}`;
    let res = await get(`${base}/manifests/${ref}`, ACCEPT);
    if (res.status === 404) {
      return {
        found: false,
        ref: image,
        message: `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
      };
    }
    if (res.status !== 200) throw new Error(`registry answered ${res.status} for ${image}`);
    const digest = String(res.headers['docker-content-digest'] ?? '');
    let manifest = JSON.parse(res.body);
    if (manifest.manifests) {
      const linux = manifest.manifests.find((m: any) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? manifest.manifests[0];
      res = await get(`${base}/manifests/${linux.digest}`, ACCEPT);
      manifest = JSON.parse(res.body);
    }
    const config = JSON.parse((await get(`${base}/blobs/${manifest.config.digest}`)).body);
    return { found: true, ref: image, imageID: `${this.address}/${repo}@${digest}`, labels: config.config?.Labels ?? {} };
  }
}
