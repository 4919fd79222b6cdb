/**
 * The embedded database on disk: its files are created once, by a thread of their own (see
 * createEmbeddedDatabaseFiles), and the server's instance opens them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, createEmbeddedDatabaseFiles } from '../src/db/connection';

describe('the embedded database files', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-embedded-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  test('are created on first start only, and the database opens from them', async () => {
    const settings = { poolMax: 1, dataDir: path.join(dataDir, 'nested', 'data') };
    expect(await createEmbeddedDatabaseFiles(settings)).toBe(true);
    expect(fs.existsSync(path.join(settings.dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
    expect(await createEmbeddedDatabaseFiles(settings)).toBe(false);

    const db = createDb(settings);
    try {
      await db.raw('CREATE TABLE kept (n int)');
      await db.raw('INSERT INTO kept VALUES (42)');
    } finally {
      await db.destroy();
    }
    const reopened = createDb(settings);
    try {
      expect((await reopened.raw('SELECT n FROM kept')).rows).toEqual([{ n: 42 }]);
    } finally {
      await reopened.destroy();
    }
  });

  test('are not made with a DATABASE_URL or in memory', async () => {
    const url = 'postgres://postgres@127.0.0.1:5432/unused';
    expect(await createEmbeddedDatabaseFiles({ poolMax: 1, dataDir, url })).toBe(false);
    expect(await createEmbeddedDatabaseFiles({ poolMax: 1, dataDir, inMemory: true })).toBe(false);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  test('a folder that cannot hold them is an error naming it', async () => {
    fs.writeFileSync(path.join(dataDir, 'pglite'), 'a file where the database folder goes');
    await expect(createEmbeddedDatabaseFiles({ poolMax: 1, dataDir })).rejects.toThrow(
      path.join(dataDir, 'pglite'),
    );
  });
});
