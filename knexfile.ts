// The knex CLI's configuration (`npx knex migrate:latest`, `migrate:up`, `migrate:rollback --all`):
// the same database selection as the server, from DATABASE_URL or the embedded data folder.
import { loadConfig } from './src/config';
import { knexConfig } from './src/db/connection';

const config = knexConfig(loadConfig().database);
export default config;
module.exports = config;
