/**
 * Receipt signing and verification throughput on this machine, with the real code path
 * (buildReceiptDocument + ReceiptKeyring.sign: RFC 8785 canonicalization and Ed25519), one by
 * one on the event loop, and in batches of 100 with signAll (Ed25519 on the signing thread), as
 * an ingest statement signs them: there the figure that matters is the event loop's busy time
 * per receipt, which is what the server's requests wait on.
 *
 *   npx tsx bench/sign-rate.ts [count]     # default 20000
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
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
        occurredAt: new Date(),
        projectKey: 'production',
        usageLogId,
        aliasName: 'summarizer',
        provider: 'openai',
        modelUsed: 'gpt-4o',
        tokens: {
          input: 1000 + i,
          output: 200,
          cachedInput: 0,
          cacheWrite5m: 0,
          cacheWrite1h: 0,
          reasoning: 0,
        },
        cost: { amount: '0.00450000', source: 'registry' },
        pricing: {
          source: 'registry',
          version: '2025-08-20/openai@7',
          long_context: false,
          lines: [
            { type: 'input', tokens: 1000 + i, per_million: '2.5', amount: '0.0025' },
            { type: 'output', tokens: 200, per_million: '10', amount: '0.002' },
          ],
        },
        keyId: keyring.activeKeyId,
      });

    for (let i = 0; i < 1000; i++) keyring.verify(keyring.sign(build(i))); // warm-up

    const signed: ReceiptDocument[] = new Array(count);
    let start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) signed[i] = keyring.sign(build(i));
    const signSeconds = Number(process.hrtime.bigint() - start) / 1e9;

    const batch = 100;
    const loopBefore = performance.eventLoopUtilization();
    start = process.hrtime.bigint();
    for (let i = 0; i < count; i += batch) {
      const docs = Array.from({ length: Math.min(batch, count - i) }, (_, j) => build(i + j));
      (await keyring.signAll(docs)).forEach((doc, j) => (signed[i + j] = doc));
    }
    const signAllSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    const loopBusyMs = performance.eventLoopUtilization(loopBefore).active;
    await keyring.close();

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
      `  event loop busy per receipt:                                    ${((signSeconds * 1e6) / count).toFixed(1)} µs`,
    );
    console.log(
      `signatures/second with signAll, batches of ${batch}:                  ${rate(count, signAllSeconds)}`,
    );
    console.log(
      `  event loop busy per receipt:                                    ${((loopBusyMs * 1e3) / count).toFixed(1)} µs`,
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
