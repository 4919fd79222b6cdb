/**
 * Ed25519 signing for receipts. Every logged call is signed, so this is on the ingest hot path:
 * libsodium (sodium-native, which ships prebuilt binaries and needs no compiler) signs in about
 * half the time of node:crypto's OpenSSL 3 one-shot sign (`npx tsx bench/sign-rate.ts`).
 * Ed25519 signatures are deterministic, so both give the same bytes. Where sodium-native cannot
 * load (a platform it has no binary for), node:crypto signs.
 *
 * Many messages at once (the receipts of one ingest statement) are signed on a worker thread
 * with libsodium, so that the event loop goes on serving requests meanwhile; a few are signed
 * at once, where handing them over would cost more than it saves.
 */
import { sign, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** The part of sodium-native this module uses. */
export interface Libsodium {
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
}

function loadLibsodium(): Libsodium | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('sodium-native') as Libsodium;
  } catch {
    return null;
  }
}

const libsodium = loadLibsodium();

/** Which implementation signs receipts in this process: 'libsodium' or 'node:crypto'. */
export const ED25519_SIGNER: 'libsodium' | 'node:crypto' = libsodium ? 'libsodium' : 'node:crypto';

const SIGNATURE_BYTES = 64;

/** Fewer messages than this are signed on the calling thread. */
export const WORKER_MIN_MESSAGES = 8;

/**
 * The signing thread's program, plain JavaScript so that it needs no TypeScript loader. It
 * gets messages concatenated, with their lengths, and answers with their signatures
 * concatenated, in order.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require(workerData.libsodiumPath);
const { secretKey } = workerData;
parentPort.on('message', ({ bytes, lengths }) => {
  const signatures = new Uint8Array(lengths.length * ${SIGNATURE_BYTES});
  let offset = 0;
  lengths.forEach((length, i) => {
    sodium.crypto_sign_detached(
      signatures.subarray(i * ${SIGNATURE_BYTES}, (i + 1) * ${SIGNATURE_BYTES}),
      bytes.subarray(offset, offset + length),
      secretKey,
    );
    offset += length;
  });
  parentPort.postMessage(signatures);
});
`;

interface Waiter {
  resolve: (signatures: Uint8Array) => void;
  reject: (err: Error) => void;
}

/** One signing thread, started on first use and again after it fails. */
class SigningThread {
  private current: { worker: Worker; waiting: Waiter[] } | null = null;

  constructor(private readonly secretKey: Uint8Array) {}

  sign(messages: Buffer[]): Promise<Uint8Array> {
    const thread = this.current ?? this.start();
    return new Promise((resolve, reject) => {
      // The thread keeps the process alive only while it has work (see start()).
      if (thread.waiting.push({ resolve, reject }) === 1) thread.worker.ref();
      thread.worker.postMessage({ bytes: Buffer.concat(messages), lengths: messages.map((m) => m.length) });
    });
  }

  async close(): Promise<void> {
    const thread = this.current;
    this.current = null;
    await thread?.worker.terminate();
  }

  private start(): { worker: Worker; waiting: Waiter[] } {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { libsodiumPath: require.resolve('sodium-native'), secretKey: this.secretKey },
    });
    const thread = { worker, waiting: [] as Waiter[] };
    worker.on('message', (signatures: Uint8Array) => {
      thread.waiting.shift()?.resolve(signatures);
      if (thread.waiting.length === 0) worker.unref();
    });
    const fail = (err: Error) => {
      if (this.current === thread) this.current = null;
      for (const w of thread.waiting.splice(0)) w.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the receipt signing thread exited (code ${code})`)));
    // Idle, the thread never keeps the process alive; unref only once the listeners are on,
    // since adding a 'message' listener refs the worker again.
    worker.unref();
    this.current = thread;
    return thread;
  }
}

/** Signs messages with one Ed25519 private key (parsed once, here). */
export class Ed25519Signer {
  private readonly signOne: (message: Buffer) => Buffer;
  private readonly thread: SigningThread | null = null;

  constructor(privateKey: KeyObject, sodium: Libsodium | null = libsodium) {
    if (!sodium) {
      this.signOne = (message) => sign(null, message, privateKey);
      return;
    }
    const jwk = privateKey.export({ format: 'jwk' });
    if (jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x) throw new Error('not an Ed25519 private key');
    // libsodium's secret key is the 32-byte seed followed by the 32-byte public key.
    const secretKey = Buffer.concat([Buffer.from(jwk.d, 'base64url'), Buffer.from(jwk.x, 'base64url')]);
    this.signOne = (message) => {
      const signature = Buffer.alloc(SIGNATURE_BYTES);
      sodium.crypto_sign_detached(signature, message, secretKey);
      return signature;
    };
    // The thread loads sodium-native itself; only the one this module loaded is known to work.
    if (sodium === libsodium) this.thread = new SigningThread(secretKey);
  }

  /** Signs on the calling thread. */
  sign(message: Buffer): Buffer {
    return this.signOne(message);
  }

  /** Signs many messages, on the signing thread when there are enough of them to be worth it. */
  async signAll(messages: Buffer[]): Promise<Buffer[]> {
    if (!this.thread || messages.length < WORKER_MIN_MESSAGES) return messages.map(this.signOne);
    const signatures = await this.thread.sign(messages);
    return messages.map((_, i) =>
      Buffer.from(signatures.buffer, signatures.byteOffset + i * SIGNATURE_BYTES, SIGNATURE_BYTES),
    );
  }

  /** Stops the signing thread, if one runs; a later signAll starts it again. */
  close(): Promise<void> {
    return this.thread?.close() ?? Promise.resolve();
  }
}
