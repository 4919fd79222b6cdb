/**
 * Receipt routes: the public keys, at the paths this server has always had and at the
 * original server's (under /api/v1/receipts/, in its shapes), a receipt by id, and verify.
 *
 * - GET /receipts/public-key.pem, /api/v1/receipts/public-key.pem   the active key, SPKI PEM
 * - GET /receipts/public-keys.json                                  every key, as a JWK set
 * - GET /api/v1/receipts/public-keys.json   {keys: [{key_id, public_key, algorithm, format,
 *                                            active}], current_key_id}  (the original's shape)
 * - GET /api/v1/receipts/{receipt_id}       the signed document (a project key reads its own)
 * - POST /api/v1/receipts/verify            a document (or {receipts: [document, …]}: the
 *                                            first) -> {receipt_id, valid, algorithm, key_id, reason}
 *
 * Public keys and verification need no credentials (they reveal nothing that is not public);
 * a receipt by id is read with the caller's credentials, like every other project read.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services';
import { readableProjects } from '../../services/scope';
import { notFound } from '../../services/errors';
import { objectOf, restCaller, sendError } from './common';

export function registerReceiptRoutes(app: FastifyInstance, services: Services): void {
  const activeKeyPem = () => services.receipts.publicKeys().find((k) => k.active)!.publicKeyPem;

  for (const path of ['/receipts/public-key.pem', '/api/v1/receipts/public-key.pem']) {
    app.get(path, async (_request, reply) => reply.type('application/x-pem-file').send(activeKeyPem()));
  }
  app.get('/receipts/public-keys.json', async (_request, reply) =>
    reply.type('application/jwk-set+json').send({ keys: services.receipts.publicKeys().map((k) => k.jwk) }),
  );
  app.get('/api/v1/receipts/public-keys.json', async () => {
    const keys = services.receipts.publicKeys();
    return {
      keys: keys.map((k) => ({
        key_id: k.keyId,
        public_key: k.jwk.x,
        algorithm: k.algorithm,
        format: 'base64url',
        active: k.active,
      })),
      current_key_id: keys.find((k) => k.active)!.keyId,
    };
  });

  app.post('/api/v1/receipts/verify', async (request, reply) => {
    try {
      const body = objectOf(request.body, 'body');
      const document = Array.isArray(body.receipts) ? body.receipts[0] : body;
      const result = services.receipts.verify(document);
      const receiptId =
        typeof document === 'object' && document !== null
          ? (document as Record<string, unknown>).receipt_id
          : undefined;
      return {
        receipt_id: typeof receiptId === 'string' ? receiptId : null,
        valid: result.valid,
        algorithm: 'Ed25519',
        key_id: result.keyId,
        reason: result.reason,
      };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { receiptId: string } }>('/api/v1/receipts/:receiptId', async (request, reply) => {
    try {
      const principal = await restCaller(services, request);
      const receipt = await services.receipts.find(request.params.receiptId, readableProjects(principal));
      if (!receipt) throw notFound('receipt');
      return receipt.document;
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
