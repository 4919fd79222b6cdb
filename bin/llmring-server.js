#!/usr/bin/env node
// The `llmring-server` command: runs the TypeScript CLI through tsx's loader.
require('tsx/cjs');
require('../src/cli');
