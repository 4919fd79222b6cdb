/**
 * Receipt signing and verification throughput on this machine, with the real code path
 * (buildReceiptDocument + ReceiptKeyring.sign: RFC 8785 canonicalization and Ed25519).
 *
 *   npx tsx bench/sign-rate.ts [count]     # default 20000
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createDb } from '../src/db/connection';
import { buildReceiptDocument, newReceiptId, newSigningKeyMaterial, ReceiptKeyring } from '../src/receipts';
import type { ReceiptDocument } from '../src/receipts';
import { ED25519_SIGNER } from '../src/receipts/ed25519';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 20000);
  const db = createDb({ poolMax: 1, dataDir: '', inMemory: true });
  try {
    await db.migrate.latest();
    const keyring = await ReceiptKeyring.load({
      settings: { privateKey: newSigningKeyMaterial().privateKeySeed, keyId: 'k-bench' },
      db,
      logger: pino({ level: 'silent' }),
    });
    const usageLogId = randomUUID();
    const build = (i: number) =>
      buildReceiptDocument({
        receiptId: newReceiptId(),
        issuedAt: new Date(),
        projectKey: 'production',
        usageLogId,
        aliasName: 'summarizer',
        provider: 'openai',
        modelUsed: 'gpt-4o',
        tokens: { input: 1000 + i, output: 200, cachedInput: 0 },
        cost: { amount: '0.00450000', source: 'registry' },
        keyId: keyring.activeKeyId,
      });

    for (let i = 0; i < 1000; i++) keyring.verify(keyring.sign(build(i))); // warm-up

    const signed: ReceiptDocument[] = new Array(count);
    let start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) signed[i] = keyring.sign(build(i));
    const signSeconds = Number(process.hrtime.bigint() - start) / 1e9;

    start = process.hrtime.bigint();
    let valid = 0;
    for (const doc of signed) if (keyring.verify(doc).valid) valid++;
    const verifySeconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (valid !== count) throw new Error(`only ${valid} of ${count} receipts verified`);

    const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en-US');
    console.log(`node ${process.version}, ${count} receipts, signed by ${ED25519_SIGNER}`);
    console.log(
      `signatures/second (build document + canonicalize + Ed25519 sign): ${rate(count, signSeconds)}`,
    );
    console.log(
      `verifications/second (canonicalize + Ed25519 verify):              ${rate(count, verifySeconds)}`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
