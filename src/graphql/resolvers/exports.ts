/** Scheduled exports (docs/exports.md): admin only, as they write to the server's disk. */
import type { Resolvers } from '../generated';
import { requireAdmin } from '../../services/authz';

export const exportResolvers: Resolvers = {
  Query: {
    exportSchedules: (_root, _args, { principal, services }) => {
      requireAdmin(principal);
      return services.exportSchedules.list();
    },
  },
  Mutation: {
    createExportSchedule: (_root, { input }, { principal, services }) => {
      requireAdmin(principal);
      return services.exportSchedules.create(input);
    },
    deleteExportSchedule: (_root, { id }, { principal, services }) => {
      requireAdmin(principal);
      return services.exportSchedules.delete(id);
    },
  },
  ExportSchedule: {
    runs: (schedule, { first }, { services }) => services.exportSchedules.runs(schedule.id, first ?? 20),
  },
};
