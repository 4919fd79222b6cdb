/**
 * Scheduled exports (docs/exports.md): the admin token or an ADMIN or BILLING operator, as they
 * write to the server's disk; each change is in the audit log.
 */
import type { Resolvers } from '../generated';
import { actorOf, requireBilling } from '../../services/authz';

export const exportResolvers: Resolvers = {
  Query: {
    exportSchedules: (_root, _args, { principal, services }) => {
      requireBilling(principal);
      return services.exportSchedules.list();
    },
  },
  Mutation: {
    createExportSchedule: (_root, { input }, { principal, services }) => {
      requireBilling(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'createExportSchedule', targetType: 'export_schedule' },
        () => services.exportSchedules.create(input),
        (s) => ({
          targetId: s.id,
          details: { projectId: s.projectId, format: s.format, period: s.period, destination: s.destination },
        }),
      );
    },
    deleteExportSchedule: (_root, { id }, { principal, services }) => {
      requireBilling(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'deleteExportSchedule', targetType: 'export_schedule' },
        () => services.exportSchedules.delete(id),
        (deleted) => (deleted ? { targetId: id } : null),
      );
    },
  },
  ExportSchedule: {
    runs: (schedule, { first }, { services }) => services.exportSchedules.runs(schedule.id, first ?? 20),
  },
};
