/** SQL fragments the parts of a statistics statement share. */
import { join, raw } from '../sql';
import { TOTAL_COLUMNS, type GroupColumn } from './spec';

export const sums = (prefix = '') =>
  join(
    TOTAL_COLUMNS.map((c) => raw(`sum(${prefix}${c}) AS ${c}`)),
    ', ',
  );
export const nullColumn = (c: GroupColumn) => raw(`NULL::${c === 'project_id' ? 'uuid' : 'text'} AS ${c}`);
