/**
 * The alert worker keeps every budget's spending up to date in one statement per round
 * (src/db/budgetSpend.ts): a baseline from the statistics, then what became visible since.
 * After rounds of random ingest (other projects' calls, filtered and unfiltered budgets,
 * calls stamped outside the period, rollup rounds in between), every budget's kept spending
 * equals the statistics' total for its filter and period, exactly.
 */
import type { Budget } from '../../src/domain/alerts';
import type { LogUsageInput } from '../../src/services/usage';
import { countedUntil } from '../../src/services/budgets';
import { toDecimalString } from '../../src/db/normalize';
import { onPostgres } from '../helpers/db';
import {
  createServiceHarness,
  recordAll,
  seedProject,
  seededRandom,
  usageInput,
  type ServiceHarness,
} from '../helpers/fixtures';

let h: ServiceHarness;
afterAll(() => h?.close());

const HOUR = 3_600_000;
const ALIASES = [null, 'summarizer', 'writer'];
const MODELS = ['gpt-4o', 'gpt-4o-mini'];
const ORIGINS = [null, 'web', 'cli'];
const TEAMS = [undefined, 'red', 'blue'];

function randomCalls(random: () => number, n: number): LogUsageInput[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  return Array.from({ length: n }, () => {
    const team = pick(TEAMS);
    return {
      provider: 'openai',
      model: pick(MODELS),
      aliasName: pick(ALIASES),
      origin: pick(ORIGINS),
      inputTokens: 10,
      outputTokens: 5,
      cost: Math.round(random() * 1e6) / 1e8,
      // Half now (after the budgets were made: a total budget counts from then), half from 40
      // days back to 4 minutes ahead (the most a client clock may be ahead).
      occurredAt: random() < 0.5 ? undefined : new Date(Date.now() - random() * 40 * 24 * HOUR + 240_000),
      metadata: team ? { team } : {},
    };
  });
}

test('kept spending equals the statistics after each round, for every filter and period', async () => {
  h = await createServiceHarness({ LLMRING_METADATA_DIMENSIONS: 'team' });
  const { services, db } = h;
  const mine = await seedProject(services);
  const other = await seedProject(services);
  const make = (name: string, rest: object) =>
    services.budgets.create(mine.project.id, { name, amount: '1000', ...rest });
  const budgets: Budget[] = [
    await make('all time', { period: 'total' }),
    await make('day, aliases', { period: 'day', filter: { aliasNames: ['summarizer', null] } }),
    await make('month in LA, model', {
      period: 'month',
      timeZone: 'America/Los_Angeles',
      filter: { models: ['gpt-4o'] },
    }),
    await make('week in Tokyo, origin', {
      period: 'week',
      timeZone: 'Asia/Tokyo',
      filter: { origins: ['web'] },
    }),
    await make('team red or none', {
      period: 'total',
      filter: { metadata: [{ key: 'team', values: ['red', null] }] },
    }),
    await make('everything at once', {
      period: 'total',
      filter: {
        aliasNames: ['writer'],
        origins: ['cli'],
        models: ['gpt-4o-mini'],
        metadata: [{ key: 'team', values: ['blue'] }],
      },
    }),
  ];

  const random = seededRandom(19);
  for (let round = 0; round < 6; round++) {
    await recordAll(services, mine.caller, randomCalls(random, 150));
    await recordAll(services, other.caller, randomCalls(random, 50));
    if (round % 2 === 1) await services.rollups.runOnce();
    const now = new Date();
    expect((await services.alerts.runOnce(now)).ran).toBe(true);

    const kept = new Map(
      (await db('budget_spend').select('budget_id', 'spent')).map((r) => [
        r.budget_id,
        toDecimalString(r.spent),
      ]),
    );
    for (const budget of budgets) {
      const period = await services.budgets.period(budget, now);
      const expected = await services.budgets.spent(budget, period.start, countedUntil(period, now));
      expect([budget.name, round, kept.get(budget.id)]).toEqual([budget.name, round, expected]);
    }
  }
  // Every filter selected something: no budget passed by being zero.
  const zero = await db('budget_spend').where('spent', 0).pluck('budget_id');
  expect(budgets.filter((b) => zero.includes(b.id)).map((b) => b.name)).toEqual([]);
});

// Another connection's open transaction keeps every snapshot's xmin low, so each round reads
// logs it already counted: only the snapshot check keeps them from counting twice. (The
// embedded database has one connection: no transaction can stay open beside the round.)
(onPostgres ? test : test.skip)(
  'calls seen by an earlier round count once while a transaction stays open',
  async () => {
    const { services, db } = h;
    const { project, caller } = await seedProject(services);
    const budget = await services.budgets.create(project.id, { name: 'open', amount: '10', period: 'total' });
    const open = await db.transaction();
    try {
      await open.raw('SELECT pg_current_xact_id()');
      const spentNow = async () => {
        expect((await services.alerts.runOnce()).ran).toBe(true);
        return toDecimalString((await db('budget_spend').where({ budget_id: budget.id }).first()).spent);
      };
      await recordAll(services, caller, [usageInput({ cost: 1 })]);
      expect(await spentNow()).toBe('1.00000000');
      await recordAll(services, caller, [usageInput({ cost: 2 })]);
      expect(await spentNow()).toBe('3.00000000');
      expect(await spentNow()).toBe('3.00000000');
    } finally {
      await open.rollback();
    }
  },
);

// A call whose transaction is still in progress when a round takes its snapshot counts in the
// first round after it commits (the snapshot's in-progress list), not never.
(onPostgres ? test : test.skip)(
  'a call committed after a round that saw it in progress counts once',
  async () => {
    const { services, db } = h;
    const { project, caller } = await seedProject(services);
    const budget = await services.budgets.create(project.id, { name: 'late', amount: '10', period: 'total' });
    const [first] = await recordAll(services, caller, [usageInput({ cost: 1 })]);
    const spentNow = async () => {
      expect((await services.alerts.runOnce()).ran).toBe(true);
      return toDecimalString((await db('budget_spend').where({ budget_id: budget.id }).first()).spent);
    };
    expect(await spentNow()).toBe('1.00000000');
    const late = await db.transaction();
    // The same call stored again under a new id, by a transaction that commits only later.
    await late.raw(
      `INSERT INTO usage_logs SELECT (jsonb_populate_record(NULL::usage_logs, to_jsonb(l) || jsonb_build_object(
       'id', gen_random_uuid(), 'tx', pg_current_xact_id()::text, 'idempotency_key', NULL, 'cost', 4))).*
     FROM usage_logs l WHERE l.id = ?`,
      [first.id],
    );
    await recordAll(services, caller, [usageInput({ cost: 2 })]);
    expect(await spentNow()).toBe('3.00000000');
    await late.commit();
    expect(await spentNow()).toBe('7.00000000');
    expect(await spentNow()).toBe('7.00000000');
  },
);

// A round's period can end before calls already stored (a round at 23:58 and a call stamped
// after midnight): those calls are outside every window of the period, even when they are
// the same alias, model and origin as calls inside it.
test("calls stamped after a period's end do not count in it", async () => {
  const { services, db } = h;
  const { project, caller } = await seedProject(services);
  const budget = await services.budgets.create(project.id, {
    name: 'yesterday',
    amount: '10',
    period: 'day',
  });
  const midnight = new Date(Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR);
  const round = new Date(midnight.getTime() - 2 * 60_000); // 23:58 UTC yesterday
  const spentAt = async (now: Date) => {
    expect((await services.alerts.runOnce(now)).ran).toBe(true);
    return toDecimalString((await db('budget_spend').where({ budget_id: budget.id }).first()).spent);
  };
  await recordAll(services, caller, [usageInput({ cost: 1, occurredAt: new Date(round.getTime() - HOUR) })]);
  expect(await spentAt(round)).toBe('1.00000000');
  await recordAll(services, caller, [
    usageInput({ cost: 2, occurredAt: new Date(round.getTime() - 60_000) }),
    usageInput({ cost: 4 }),
  ]);
  expect(await spentAt(round)).toBe('3.00000000');
});
