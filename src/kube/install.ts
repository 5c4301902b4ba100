// A pinned kubectl through the runner's tool cache, checked against its published sha256
// before it ever runs.
import * as tc from '@actions/tool-cache';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';

const DEFAULT_BASE = 'https://dl.k8s.io/release';

function kubectlUrl(version: string, base = process.env.MEDAUDIT_KUBECTL_BASE_URL || DEFAULT_BASE): string {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  return `${base}/${version}/bin/linux/${arch}/kubectl`;
}

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

export async function installKubectl(version: string, log: (line: string) => void): Promise<string> {
  const cached = tc.find('kubectl', version.replace(/^v/, ''));
  if (cached) return path.join(cached, 'kubectl');
  const url = kubectlUrl(version);
  log(`downloading kubectl ${version} from ${url}`);
  const binary = await tc.downloadTool(url);
  const sumFile = await tc.downloadTool(`${url}.sha256`);
  const want = readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0];
  const got = sha256(binary);
  if (want !== got) throw new Error(`kubectl ${version}: sha256 mismatch (published ${want}, downloaded ${got}); refusing to run it`);
  chmodSync(binary, 0o755);
  const dir = await tc.cacheFile(binary, 'kubectl', 'kubectl', version.replace(/^v/, ''));
  log(`kubectl ${version} verified (sha256 ${got.slice(0, 12)}…)`);
  return path.join(dir, 'kubectl');
}
