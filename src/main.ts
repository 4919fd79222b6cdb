/** `npm start`: serve on the configured port until SIGINT or SIGTERM. */
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { createApp, describeDatabase } from './app';

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({
    level: config.logLevel,
    pretty: config.env === 'development' && process.stdout.isTTY,
  });
  const app = await createApp(config, logger);
  const address = await app.server.listen({ port: config.http.port, host: config.http.host });
  logger.info({ address, database: describeDatabase(config) }, 'llmring-server listening');

  if (app.firstProject) {
    // Printed once, straight to the terminal and never through the logger: logs keep no secrets.
    const url = `${address}/graphql`;
    process.stdout.write(
      [
        '',
        `Created project '${app.firstProject.projectKey}' with an API key. This secret is shown only once:`,
        '',
        `  ${app.firstProject.secret}`,
        '',
        'Log a call:',
        '',
        `  curl -s ${url} -H 'Content-Type: application/json' -H 'X-API-Key: ${app.firstProject.secret}' \\`,
        `    -d '{"query":"mutation { logUsage(input: {provider: \\"openai\\", model: \\"gpt-4o\\", aliasName: \\"summarizer\\", inputTokens: 1000, outputTokens: 200}) { usageLog { id cost } receipt { receiptId } } }"}'`,
        '',
        `Explore the API in Apollo Sandbox: open ${url} in a browser.`,
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // New connections are refused at once; requests already received are answered, then the
    // database pool closes. Past the deadline the process exits anyway, with code 1.
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    try {
      await app.close();
    } catch (err) {
      logger.error({ err }, 'error while shutting down');
      process.exit(1);
    }
    logger.info('shut down cleanly');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

if (require.main === module) {
  serve().catch((err) => {
    process.stderr.write(
      `llmring-server failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  });
}
