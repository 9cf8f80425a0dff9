#!/usr/bin/env node
// Thin launcher kept in git so the `herald` bin link exists right after `pnpm install`,
// before the TypeScript build has produced dist/.
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
