// The job summary and the failure explanation, as text built from the run's result (pure).
import type { ReleaseResult, Status } from '../result.js';
import type { Diagnosis } from '../rollout/diagnose.js';
import type { RollbackStep } from '../rollout/rollback.js';

const cell = (v: unknown) =>
  String(v ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
const HEADLINE: Record<Status, string> = {
  deployed: '✅ Deployed',
  'rolled-back': '↩️ Rolled back',
  failed: '❌ Failed',
  cancelled: '⏹️ Cancelled',
  'dry-run': '🔍 Dry run',
};

/** One line per failing pod with its hint, then its logs and events, as Skaffold prints them. */
export function explain(d: Diagnosis): string[] {
  const container = d.container ? ` ${d.init ? 'init container' : 'container'} ${d.container}` : '';
  const where = d.pod ? `${d.workload} pod ${d.pod}${container}` : d.workload;
  return [
    `${where}: ${d.reason}: ${d.message}`,
    `  hint: ${d.hint}`,
    ...(d.logs.length ? [`  last log lines${d.previousLogs ? ' (previous instance)' : ''}:`, ...d.logs.map((l) => `    ${l}`)] : []),
    ...(d.events.length ? ['  recent warning events:', ...d.events.map((e) => `    ${e}`)] : []),
  ];
}

export function describeStep(s: RollbackStep): string {
  if (s.action === 'undo') return `${s.kind}/${s.name}: revision ${s.fromRevision ?? '?'} → ${s.toRevision}`;
  const failed = 'error' in s && s.error ? ` — FAILED: ${s.error}` : '';
  if (s.action === 'restore') return `${s.kind}/${s.name}: restored to its state before the release${failed}`;
  if (s.action === 'delete') return `${s.kind}/${s.name}: deleted (the failed release created it)${failed}`;
  return `${s.kind}/${s.name}: ${s.action === 'keep' ? 'unchanged' : 'left in place'} (${s.reason})`;
}

export function summaryMarkdown(r: ReleaseResult): string {
  const lines = [`## ${HEADLINE[r.status]}${r.namespace ? ` — namespace \`${r.namespace}\`` : ''}`, ''];
  if (r.image) lines.push(`Image: \`${r.image}\`${r.tag ? ` (tag \`${r.tag}\`)` : ''}`, '');
  if (r.url) lines.push(`URL: ${r.url}`, '');
  if (r.failureReason) lines.push(`**Why:** ${cell(r.failureReason)}`, '');
  if (r.detectionSeconds !== undefined) lines.push(`Failure detected ${r.detectionSeconds.toFixed(1)} s after the first pod of the release started.`, '');
  if (r.rows.length) {
    lines.push('| workload | image | revision before | revision after | time | verdict |', '|---|---|---|---|---|---|');
    for (const w of r.rows) {
      lines.push(
        `| ${cell(w.workload)} | ${cell(w.image)} | ${cell(w.before)} | ${cell(w.after)} | ${w.seconds === undefined ? '—' : `${w.seconds.toFixed(1)} s`} | ${cell(w.verdict)} |`,
      );
    }
    lines.push('');
  }
  if (r.diagnoses.length) {
    lines.push('### What failed', '', '```', ...r.diagnoses.flatMap(explain), '```', '');
  }
  if (r.rollback.length) {
    lines.push('### Rollback', '', ...r.rollback.map((s) => `- ${describeStep(s)}`), '');
    lines.push(
      'The database schema stays migrated: a rollback never runs down-migrations. A PersistentVolumeClaim the failed release created is kept, as it may hold data.',
      '',
    );
  }
  return lines.join('\n');
}
