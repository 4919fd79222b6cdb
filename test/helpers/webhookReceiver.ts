/**
 * A webhook receiver on a loopback port, as a user would write one: it verifies each request
 * with the Standard Webhooks library (standardwebhooks) and the webhook's secret, and answers
 * as its script says (a status code, or 'hang' to never answer).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  timestamp: string;
  body: string;
  /** The payload as verify() returned it; null when the signature did not verify. */
  payload: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  error: string | null;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** The verified payloads, in arrival order. */
  verified(): Array<NonNullable<Received['payload']>>;
  /** Sets the webhook's secret once createWebhook returned it. */
  useSecret(secret: string): void;
  /** Waits until `predicate` holds of what was received (polling), or fails after `ms`. */
  until(predicate: (r: Received[]) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

type Answer = number | 'hang';

export async function startReceiver(script: (n: number) => Answer = () => 204): Promise<Receiver> {
  let secret: string | null = null;
  const received: Received[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let payload: Received['payload'] = null;
      let error: string | null = null;
      try {
        payload = new Webhook(secret ?? 'whsec_').verify(body, headers) as Received['payload'];
      } catch (err) {
        error = (err as Error).message;
      }
      received.push({
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        body,
        payload,
        error,
      });
      const answer = script(received.length);
      if (answer === 'hang') hanging.push(res);
      else res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    verified: () => received.filter((r) => r.payload).map((r) => r.payload!),
    useSecret(s) {
      secret = s;
    },
    async until(predicate, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(`receiver: condition not met in ${ms} ms (got ${received.length})`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
