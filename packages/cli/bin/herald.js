#!/usr/bin/env node
// Thin launcher kept in git so the `herald` bin link exists right after `pnpm install`,
// before the TypeScript build has produced dist/.

// Herald runs on Node 20 with AWS SDK versions that support it (pinned in the lockfile). The
// SDK's notice that later versions will need Node 22 would otherwise interrupt every command's
// output; users who want it can set the variable to "false".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Against the Pub/Sub emulator there is no Google metadata server to find; without this the
// auth library warns on every command that its lookup failed.
if (process.env.PUBSUB_EMULATOR_HOST) process.env.METADATA_SERVER_DETECTION ??= 'none';

// A client library may leave a promise unhandled after the command has already reported the
// failure (google-gax does, when credentials are missing). Report it in one line rather than
// crash with a stack trace; a long-running processor keeps running.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`herald: ${reason instanceof Error ? reason.message : String(reason)}\n`);
  process.exitCode ||= 1;
});

let cli;
try {
  cli = await import('../dist/main.js');
} catch (err) {
  // In a checkout before the TypeScript build: say what to do rather than print a stack trace.
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('/dist/')) throw err;
  process.stderr.write('herald: not built yet: run `pnpm build` first (`pnpm demo` and `pnpm test` build too)\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));
// The command is done: it does not wait on what a library may still hold open, such as a trace
// exporter retrying a collector that is gone. Output is written already (stdout and stderr are
// synchronous for files and pipes on Linux and macOS).
setTimeout(() => process.exit(), 1000).unref();
