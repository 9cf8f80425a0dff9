#!/usr/bin/env node
// Thin launcher kept in git so the `herald` bin link exists right after `pnpm install`,
// before the TypeScript build has produced dist/.

// Herald runs on Node 20 with AWS SDK versions that support it (pinned in the lockfile). The
// SDK's notice that later versions will need Node 22 would otherwise interrupt every command's
// output; users who want it can set the variable to "false".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { main } = await import('../dist/main.js');
process.exitCode = await main(process.argv.slice(2));
