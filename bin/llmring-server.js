#!/usr/bin/env node
// The `llmring-server` command. With NODE_ENV=production it runs the compiled CLI in dist/
// (`npm run build`): less memory and CPU than compiling at start. Otherwise it runs the
// TypeScript sources through tsx's loader, so edits take effect without a build.
const fs = require('node:fs');
const path = require('node:path');

if (process.env.NODE_ENV === 'production') {
  const compiled = path.join(__dirname, '..', 'dist', 'src', 'cli.js');
  if (!fs.existsSync(compiled)) {
    process.stderr.write(
      `NODE_ENV is production but ${compiled} does not exist: run \`npm run build\` first.\n`,
    );
    process.exit(2);
  }
  require(compiled);
} else {
  require('tsx/cjs');
  require('../src/cli');
}
