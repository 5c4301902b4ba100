// The kubeconfig a run was given as an input lives only for the run: a 0600 file in a private
// temporary directory, removed afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type KubeconfigFile = { path: string; remove: () => void };

export function writeKubeconfig(content: string, tmpRoot = process.env.RUNNER_TEMP || os.tmpdir()): KubeconfigFile {
  const dir = mkdtempSync(path.join(tmpRoot, 'medaudit-kube-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, content, { mode: 0o600 });
  return { path: file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Lines worth masking in the log: every credential-looking value of the kubeconfig. */
export function secretLines(content: string): string[] {
  const values = [...content.matchAll(/(?:client-key-data|client-certificate-data|token|password)\s*:\s*["']?([^\s,}"']+)/g)].map((m) => m[1]);
  return values.filter((v) => v.length > 8);
}
