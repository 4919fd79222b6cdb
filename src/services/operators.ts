/**
 * Operators: named tokens with a role (ADMIN, VIEWER, BILLING), besides the bootstrap admin
 * token, created and revoked by an admin. As with API keys, the token is shown once and only
 * its SHA-256 and a prefix are stored; last use is recorded at most once a minute.
 *
 * A lookup reads the database every time (one indexed row): operator requests are few (the
 * dashboard, the CLI, scripts), and a revoked token stops at once on every instance.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { isUuid } from '../domain/limits';
import { OPERATOR_ROLES, type Actor, type Operator, type OperatorRole } from '../domain/access';
import { toDate, toDateOrNull } from '../db/normalize';
import { hashSecret } from './apiKeys';
import type { AuditService } from './audit';
import { badInput, notFound } from './errors';
import { checkString } from './validate';

/** Operator tokens start with this, so the server knows to look them up as operators. */
export const OPERATOR_TOKEN_PREFIX = 'lro_';
const PREFIX_LENGTH = 12;
const LAST_USED_RESOLUTION_MS = 60_000;
const UNIQUE_VIOLATION = '23505';

interface OperatorRow {
  id: string;
  name: string;
  role: OperatorRole;
  token_hash: string;
  token_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toOperator(row: OperatorRow): Operator {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.token_prefix,
    createdAt: toDate(row.created_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
    revokedAt: toDateOrNull(row.revoked_at),
  };
}

export class OperatorService {
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(private readonly deps: { db: Knex; audit: AuditService }) {}

  async create(
    name: string,
    role: OperatorRole,
    actor: Actor,
  ): Promise<{ operator: Operator; token: string }> {
    checkString('name', name, { max: 255 });
    if (!OPERATOR_ROLES.includes(role)) throw badInput('role', 'must be ADMIN, VIEWER or BILLING');
    const token = OPERATOR_TOKEN_PREFIX + randomBytes(24).toString('base64url');
    try {
      return await this.deps.db.transaction(async (trx) => {
        const [row] = await trx<OperatorRow>('operators')
          .insert({ name, role, token_hash: hashSecret(token), token_prefix: token.slice(0, PREFIX_LENGTH) })
          .returning('*');
        const operator = toOperator(row);
        await this.deps.audit.record(trx, actor, {
          action: 'createOperator',
          targetType: 'operator',
          targetId: operator.id,
          details: { name, role: role.toUpperCase() },
        });
        return { operator, token };
      });
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) {
        throw badInput('name', `an operator named '${name}' exists; revoke it first or pick another name`);
      }
      throw err;
    }
  }

  async revoke(id: string, actor: Actor): Promise<Operator> {
    if (!isUuid(id)) throw notFound('operator');
    return this.deps.db.transaction(async (trx) => {
      const [row] = await trx<OperatorRow>('operators')
        .where({ id })
        .update({ revoked_at: trx.raw('COALESCE(revoked_at, now())') as unknown as Date })
        .returning('*');
      if (!row) throw notFound('operator');
      const operator = toOperator(row);
      await this.deps.audit.record(trx, actor, {
        action: 'revokeOperator',
        targetType: 'operator',
        targetId: id,
        details: { name: operator.name },
      });
      return operator;
    });
  }

  /** Every operator, revoked ones included, oldest first. */
  async list(): Promise<Operator[]> {
    const rows = await this.deps
      .db<OperatorRow>('operators')
      .orderBy([{ column: 'created_at' }, { column: 'id' }]);
    return rows.map(toOperator);
  }

  /** The working operator of a token, or null. */
  async authenticate(token: string): Promise<Operator | null> {
    if (!token.startsWith(OPERATOR_TOKEN_PREFIX) || token.length > 512) return null;
    const row = await this.deps
      .db<OperatorRow>('operators')
      .where({ token_hash: hashSecret(token) })
      .whereNull('revoked_at')
      .first();
    if (!row) return null;
    this.touch(row.id);
    return toOperator(row);
  }

  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(id) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(id, now);
    this.deps
      .db('operators')
      .where({ id })
      .update({ last_used_at: new Date(now) })
      .catch(() => this.lastUsedWritten.delete(id));
  }
}
