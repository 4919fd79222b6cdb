/**
 * The offline ledger verifier behind `llmring-server verify-ledger` (docs/ledger.md): what a
 * client or auditor runs, holding receipts it kept and checkpoints it saved, against a server
 * it does not trust. Everything is checked here, with node:crypto; the server only supplies
 * proofs and its current view, and every answer it gives is checked, never believed.
 *
 * 1. Every saved checkpoint's note signature, by the project's verifier key.
 * 2. Every kept receipt's Ed25519 signature (RFC 8785 bytes), by the key its key_id names.
 * 3. Consistency between each pair of saved checkpoints (by size), and from the newest saved
 *    to the server's current checkpoint.
 * 4. Every kept receipt's inclusion in the newest saved checkpoint.
 * 5. The server still holds each kept receipt, unchanged, and its call's current cost is the
 *    receipt's amount or the last adjustment's.
 *
 * Each failure is one line naming what failed and why.
 */
import { createPublicKey, verify as verifyBytes, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../receipts/jcs';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle';
import { openNote, parseCheckpointText, parseVerifierKey, type Checkpoint } from './note';

/** What the verifier asks of the server. */
export interface LedgerServer {
  /** The text of GET <path> (a 404 or other failure throws). */
  get(path: string): Promise<string>;
  /** A GraphQL query with the caller's credentials; errors throw with the server's message. */
  graphql<T>(query: string, variables: Record<string, unknown>): Promise<T>;
}

export interface VerifyLedgerOptions {
  receipts: unknown[];
  /** Signed checkpoint notes saved earlier (at least one). */
  checkpoints: string[];
  server: LedgerServer;
  /** The verifier keys to trust (default: the server's, fetched: its active and retired keys). */
  vkeys?: string[];
  /** Receipts the server no longer holds are warnings rather than failures (retention ran). */
  allowPruned?: boolean;
}

export interface VerifyLedgerResult {
  ok: boolean;
  failures: string[];
  warnings: string[];
  /** What was checked, for the report. */
  checked: { receipts: number; checkpoints: number; newestSize: number; currentSize: number | null };
}

/** A server that answers over HTTP at `baseUrl`, with an API key (X-API-Key) for GraphQL. */
export function httpLedgerServer(baseUrl: string, apiKey?: string): LedgerServer {
  const base = baseUrl.replace(/\/+$/, '').replace(/\/graphql$/, '');
  return {
    async get(path) {
      const res = await fetch(base + path);
      const text = await res.text();
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
      return text;
    },
    async graphql<T>(query: string, variables: Record<string, unknown>) {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
      if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
      if (!body.data) throw new Error(`GraphQL: HTTP ${res.status} without data`);
      return body.data;
    },
  };
}

const SIGNATURE = /^ed25519:([A-Za-z0-9_-]{86})$/;

function receiptKeys(jwks: string): Map<string, KeyObject> {
  const set = JSON.parse(jwks) as { keys: Array<{ kid: string; x: string; crv: string; kty: string }> };
  return new Map(
    set.keys.map((k) => [k.kid, createPublicKey({ key: { kty: k.kty, crv: k.crv, x: k.x }, format: 'jwk' })]),
  );
}

function signatureProblem(doc: Record<string, unknown>, keys: Map<string, KeyObject>): string | null {
  const key = typeof doc.key_id === 'string' ? keys.get(doc.key_id) : undefined;
  if (!key) return `its key_id ${JSON.stringify(doc.key_id)} is no key of the server`;
  const m = typeof doc.signature === 'string' ? SIGNATURE.exec(doc.signature) : null;
  if (!m) return 'its signature is not ed25519:<base64url>';
  const unsigned = Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'signature'));
  const bytes = Buffer.from(canonicalJson(unsigned), 'utf8');
  return verifyBytes(null, bytes, key, Buffer.from(m[1], 'base64url'))
    ? null
    : 'its signature does not verify: a member was changed or another key signed it';
}

const idOf = (doc: Record<string, unknown>) =>
  String(doc.receipt_id ?? doc.adjustment_id ?? '(a document without an id)');

export async function verifyLedger(opts: VerifyLedgerOptions): Promise<VerifyLedgerResult> {
  const { server } = opts;
  const failures: string[] = [];
  const warnings: string[] = [];
  const docs = opts.receipts.filter(
    (d): d is Record<string, unknown> => typeof d === 'object' && d !== null && !Array.isArray(d),
  );
  if (docs.length !== opts.receipts.length) failures.push('some kept receipts are not JSON objects');
  if (opts.checkpoints.length === 0) throw new Error('at least one saved checkpoint is needed');

  // The project: every saved checkpoint names it in its origin ("<name>/<project key>").
  const firstOrigin = opts.checkpoints[0].split('\n')[0];
  const projectKey = firstOrigin.slice(firstOrigin.lastIndexOf('/') + 1);
  const vkeyLines =
    opts.vkeys ??
    (await server.get(`/ledger/${encodeURIComponent(projectKey)}/vkey`)).split('\n').filter((l) => l.trim());
  const vkeys = vkeyLines.map(parseVerifierKey);
  const origin = vkeys[0]?.name;
  if (!origin) throw new Error('no verifier key to check the checkpoints with');

  const saved: Checkpoint[] = [];
  opts.checkpoints.forEach((note, i) => {
    try {
      const c = parseCheckpointText(openNote(note, vkeys));
      if (c.origin !== origin) throw new Error(`its origin ${c.origin} is not ${origin}`);
      saved.push(c);
    } catch (err) {
      failures.push(`checkpoint ${i + 1}: ${(err as Error).message}`);
    }
  });
  saved.sort((a, b) => a.treeSize - b.treeSize);

  const keys = receiptKeys(await server.get('/receipts/public-keys.json'));
  for (const doc of docs) {
    const problem = signatureProblem(doc, keys);
    if (problem) failures.push(`receipt ${idOf(doc)}: ${problem}`);
  }

  const consistent = async (from: Checkpoint, to: Checkpoint, what: string) => {
    if (from.treeSize === 0) return;
    if (from.treeSize === to.treeSize) {
      if (!from.rootHash.equals(to.rootHash))
        failures.push(`${what}: same size ${to.treeSize}, different roots`);
      return;
    }
    try {
      const { ledgerConsistencyProof } = await server.graphql<{ ledgerConsistencyProof: string[] }>(
        'query($from: SafeInt!, $to: SafeInt) { ledgerConsistencyProof(fromSize: $from, toSize: $to) }',
        { from: from.treeSize, to: to.treeSize },
      );
      const proof = ledgerConsistencyProof.map((h) => Buffer.from(h, 'base64'));
      if (!verifyConsistency(from.treeSize, to.treeSize, proof, from.rootHash, to.rootHash)) {
        failures.push(
          `${what}: the log of size ${to.treeSize} does not extend the log of size ${from.treeSize}: entries were changed, removed or inserted`,
        );
      }
    } catch (err) {
      failures.push(
        `${what}: no consistency proof from ${from.treeSize} to ${to.treeSize}: ${(err as Error).message}`,
      );
    }
  };
  for (let i = 1; i < saved.length; i++) {
    await consistent(
      saved[i - 1],
      saved[i],
      `checkpoints of sizes ${saved[i - 1].treeSize} and ${saved[i].treeSize}`,
    );
  }
  const newest = saved[saved.length - 1];

  let current: Checkpoint | null = null;
  try {
    current = parseCheckpointText(
      openNote(await server.get(`/ledger/${encodeURIComponent(projectKey)}/checkpoint`), vkeys),
    );
  } catch (err) {
    failures.push(`the server's current checkpoint: ${(err as Error).message}`);
  }
  if (newest && current) {
    if (current.treeSize < newest.treeSize) {
      failures.push(
        `the server's current checkpoint (size ${current.treeSize}) is smaller than a saved one (size ${newest.treeSize}): the log was cut`,
      );
    } else {
      await consistent(
        newest,
        current,
        `the saved checkpoint of size ${newest.treeSize} and the server's current one`,
      );
    }
  }

  for (const doc of docs) {
    const id = idOf(doc);
    if (newest) {
      try {
        const { receiptInclusionProof: p } = await server.graphql<{
          receiptInclusionProof: { leafIndex: number; treeSize: number; hashes: string[] };
        }>(
          'query($id: String!, $size: SafeInt) { receiptInclusionProof(receiptId: $id, treeSize: $size) { leafIndex treeSize hashes } }',
          { id, size: newest.treeSize },
        );
        const leaf = leafHash(Buffer.from(canonicalJson(doc), 'utf8'));
        const hashes = p.hashes.map((h) => Buffer.from(h, 'base64'));
        if (
          p.treeSize !== newest.treeSize ||
          !verifyInclusion(leaf, p.leafIndex, newest.treeSize, hashes, newest.rootHash)
        ) {
          failures.push(
            `receipt ${id}: not in the checkpoint of size ${newest.treeSize}: the proof does not lead from this receipt to its root`,
          );
        }
      } catch (err) {
        failures.push(
          `receipt ${id}: no inclusion proof in the checkpoint of size ${newest.treeSize}: ${(err as Error).message}`,
        );
      }
    }
    if (doc.type === 'adjustment') continue; // adjustments are read with their log, not by id
    try {
      const { receipt } = await server.graphql<{
        receipt: {
          document: Record<string, unknown>;
          usageLog: { costDecimal: string; adjustments: Array<{ newCost: string }> } | null;
        } | null;
      }>(
        'query($id: String!) { receipt(receiptId: $id) { document usageLog { costDecimal adjustments { newCost } } } }',
        { id },
      );
      if (!receipt) {
        (opts.allowPruned ? warnings : failures).push(
          `receipt ${id}: the server no longer holds it (deleted, or pruned by retention)`,
        );
        continue;
      }
      if (canonicalJson(receipt.document) !== canonicalJson(doc)) {
        failures.push(`receipt ${id}: the server's stored copy differs from the one kept`);
      }
      const log = receipt.usageLog;
      const amount = (doc.cost as { amount?: unknown } | undefined)?.amount;
      if (log && typeof amount === 'string') {
        const expected = log.adjustments.length
          ? log.adjustments[log.adjustments.length - 1].newCost
          : amount;
        if (Number(log.costDecimal) !== Number(expected)) {
          failures.push(
            `receipt ${id}: the server bills the call ${log.costDecimal}, but its receipt and adjustments say ${expected}`,
          );
        }
      }
    } catch (err) {
      failures.push(`receipt ${id}: the server's copy could not be read: ${(err as Error).message}`);
    }
  }

  return {
    ok: failures.length === 0,
    failures,
    warnings,
    checked: {
      receipts: docs.length,
      checkpoints: saved.length,
      newestSize: newest?.treeSize ?? 0,
      currentSize: current?.treeSize ?? null,
    },
  };
}
