// The shipped migrate init container's command, run as written in k8s/backend-deployment.yaml with
// the real alembic (PyPI) against a real database (SQLite): each "image" is an alembic project with
// the revisions that release ships.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../support/cluster.js';
import { readManifests } from '../support/manifests.js';

const backend = readManifests(path.join(REPO, 'k8s', 'backend-deployment.yaml')).find((o) => o.kind === 'Deployment');
const migrate = backend.spec.template.spec.initContainers.find((c: { name: string }) => c.name === 'migrate');
const shipped: string[] = [...(migrate.command ?? []), ...(migrate.args ?? [])];

let bin: string;
let db: string;

// As \`alembic init\` writes it: alembic's own INFO lines on stderr, as a migrate container logs them.
const LOGGING = `[loggers]
keys = root,alembic
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARN
handlers = console
[logger_alembic]
level = INFO
handlers =
qualname = alembic
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic
[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
`;

const ENV_PY = `from logging.config import fileConfig
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
fileConfig(config.config_file_name)
connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
`;

type Revision = { id: string; down?: string; sql: string };

const RELEASE_1: Revision[] = [{ id: '0001_initial', sql: 'CREATE TABLE audits (id INTEGER PRIMARY KEY)' }];
const RELEASE_2: Revision[] = [...RELEASE_1, { id: '0002_add_status', down: '0001_initial', sql: "ALTER TABLE audits ADD COLUMN status TEXT DEFAULT 'new'" }];
const BROKEN: Revision[] = [...RELEASE_2, { id: '0003_broken', down: '0002_add_status', sql: 'ALTER TABLE no_such_table ADD COLUMN x TEXT' }];

/** An image's alembic project: alembic.ini, env.py and its revisions, on the shared database. */
function image(revisions: Revision[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-image-'));
  mkdirSync(path.join(dir, 'migrations', 'versions'), { recursive: true });
  writeFileSync(path.join(dir, 'alembic.ini'), `[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///${db}\n${LOGGING}`);
  writeFileSync(path.join(dir, 'migrations', 'env.py'), ENV_PY);
  for (const r of revisions) {
    writeFileSync(
      path.join(dir, 'migrations', 'versions', `${r.id}.py`),
      `from alembic import op\nrevision = ${JSON.stringify(r.id)}\ndown_revision = ${r.down ? JSON.stringify(r.down) : 'None'}\n` +
        `def upgrade():\n    op.execute(${JSON.stringify(r.sql)})\n`,
    );
  }
  return dir;
}

/** Runs a command in the image's directory, as the container's working directory. */
function run(command: string[], cwd: string) {
  const r = spawnSync(command[0], command.slice(1), { cwd, encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, HOME: cwd } });
  return { code: r.status, log: `${r.stdout}${r.stderr}` };
}

const dbRevision = () => run(['alembic', 'current'], image(BROKEN)).log.match(/(\d{4}_\w+)/)?.[1];

beforeAll(() => {
  bin = execFileSync('bash', [path.join(REPO, 'test', 'tools', 'alembic.sh')], { encoding: 'utf8' }).trim();
  db = path.join(mkdtempSync(path.join(os.tmpdir(), 'medaudit-db-')), 'medaudit.sqlite');
}, 180_000);

describe('the shipped migrate command, with the real alembic', () => {
  test('it is a shell script around alembic upgrade head', () => {
    expect(shipped.slice(0, 2)).toEqual(['sh', '-c']);
  });

  test('release 1 migrates an empty database; release 2 migrates on to its head', () => {
    const first = run(shipped, image(RELEASE_1));
    expect(first).toMatchObject({ code: 0 });
    expect(first.log).toContain('Running upgrade  -> 0001_initial');
    const second = run(shipped, image(RELEASE_2));
    expect(second).toMatchObject({ code: 0 });
    expect(second.log).toContain('Running upgrade 0001_initial -> 0002_add_status');
    expect(dbRevision()).toBe('0002_add_status');
  });

  test('a rollback: release 1 on release 2s schema exits 0 and says it skipped; plain upgrade head would fail', () => {
    const previous = image(RELEASE_1);
    const plain = run(['alembic', 'upgrade', 'head'], previous);
    expect(plain.code).not.toBe(0);
    expect(plain.log).toContain("Can't locate revision identified by '0002_add_status'");
    const restored = run(shipped, previous);
    expect(restored).toMatchObject({ code: 0 });
    expect(restored.log).toContain('migrate: skipped: the database is at a revision this image does not know');
    expect(dbRevision()).toBe('0002_add_status');
  });

  test('a broken migration still fails the pod, with alembic saying why', () => {
    const broken = run(shipped, image(BROKEN));
    expect(broken.code).not.toBe(0);
    expect(broken.log).toMatch(/no such table: no_such_table/);
    expect(dbRevision()).toBe('0002_add_status');
  });

  test('a database that cannot be reached fails it too: only an unknown revision is skipped', () => {
    const dir = image(RELEASE_2);
    writeFileSync(path.join(dir, 'alembic.ini'), `[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:////nonexistent-dir/x.sqlite\n${LOGGING}`);
    const r = run(shipped, dir);
    expect(r.code).toBe(1);
    expect(r.log).not.toContain('skipped');
  });
});
