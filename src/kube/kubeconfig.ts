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
  // YAML or JSON keys, quoted or not; exec plugins' env values are covered by the whole-file mask.
  const key = /["']?(?:client-key-data|client-certificate-data|client-secret|token|id-token|refresh-token|password|secret)["']?\s*:\s*["']?([^\s,}"']+)/g;
  return [...new Set([...content.matchAll(key)].map((m) => m[1]))].filter((v) => v.length >= 4);
}
