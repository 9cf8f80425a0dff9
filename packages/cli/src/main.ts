import { ConfigError, DecodeError, HeraldError } from '@herald/core/errors';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ListOptions } from './commands/deliveries.js';
import { EXIT, UsageError } from './errors.js';
import type { InfraStep } from './infra/steps.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, logFormatFor } from './log-options.js';
import { cliVersion } from './version.js';

// Each command imports what it uses when it runs (`await import(…)` in its action), so
// `herald --version` or `herald validate` never pays for a cloud SDK, the store's drivers or
// the HTTP server.

/** Streams the CLI writes to; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Runs `herald` with the given arguments and resolves to its exit status:
 * 0 success, 1 runtime failure, 2 bad usage or bad configuration.
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let status: number = EXIT.ok;
  const program = new Command('herald')
    .description('Queue-backed notifications for workflow engines')
    .version(cliVersion(), '-V, --version', 'print the version and exit')
    .addOption(new Option('--log-level <level>', 'log verbosity').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option(
        '--log-format <format>',
        'log lines: json, pretty or gcp (Cloud Logging); default pretty on a terminal, else json',
      )
        .choices(LOG_FORMATS)
        .env('HERALD_LOG_FORMAT'),
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run herald --help for usage)');

  const logger = async () => {
    const { createLogger } = await import('./logging.js');
    const { traceFields } = await import('./log-correlation.js');
    const { logLevel, logFormat } = program.opts<{ logLevel: string; logFormat?: LogFormat }>();
    return createLogger(logLevel, {
      format: logFormat,
      stream: io.stderr,
      mixin: traceFields(logFormatFor(io.stderr, logFormat)),
    });
  };
  const inputs = () => import('./inputs.js');
  const eventFiles = () => import('./event-files.js');
  const configFile = async (file: string) => (await inputs()).readConfig(file);
  const store = () => import('./commands/deliveries.js');

  program
    .command('run')
    .description('run the processor until SIGINT/SIGTERM, then drain in-flight work')
    .option('-c, --config <file>', 'YAML config (default: embedded sandbox)')
    .option('--publish <files...>', 'publish these event files once running (JSON or JSON lines)')
    .option('--exit-when-idle', 'stop once every published event is settled (sandbox)', false)
    .action(async (opts: { config?: string; publish?: string[]; exitWhenIdle: boolean }) => {
      const { holdYoungGenerationWhileStarting } = await import('./heap-growth.js');
      const startedUp = holdYoungGenerationWhileStarting();
      // Every missing secret is listed at once, as `herald validate` lists them.
      const { readConfig } = await inputs();
      const { readEvents } = await eventFiles();
      const config = readConfig(opts.config, { checkSecrets: true });
      const publish = (opts.publish ?? []).flatMap((file) => readEvents(file));
      const { runProcessor } = await import('./commands/run.js');
      status = await runProcessor(config, await logger(), {
        publish,
        exitWhenIdle: opts.exitWhenIdle,
        out: io.stdout,
        started: startedUp,
      });
    });

  program
    .command('publish')
    .description('publish events and print their message ids')
    .requiredOption('-c, --config <file>', 'YAML config')
    .requiredOption('-e, --event <file>', "event file: JSON, JSON array or JSON lines; '-' reads stdin")
    .action(async (opts: { config: string; event: string }) => {
      const { readConfig } = await inputs();
      const { readEvents } = await eventFiles();
      const config = readConfig(opts.config);
      const events = readEvents(opts.event);
      const { publishEvents } = await import('./commands/publish.js');
      await publishEvents(config, events, { eventFile: opts.event, logger: await logger(), out: io.stdout });
    });

  program
    .command('render')
    .description('print what each destination would receive for an event, without sending or reading secrets')
    .option('-c, --config <file>', 'YAML config (default: embedded sandbox)')
    .requiredOption('-e, --event <file>', "event file: JSON, JSON array or JSON lines; '-' reads stdin")
    .option('--json', 'print a JSON array, one element per delivery', false)
    .action(async (opts: { config?: string; event: string; json: boolean }) => {
      const { readConfig } = await inputs();
      const { readEvents } = await eventFiles();
      const config = readConfig(opts.config);
      const events = readEvents(opts.event);
      const { formatDeliveries, renderDeliveries } = await import('./commands/render.js');
      const rendered = await renderDeliveries(config, events);
      io.stdout.write(
        opts.json
          ? `${JSON.stringify(
              rendered.map((r) => r.delivery),
              null,
              2,
            )}\n`
          : formatDeliveries(rendered, events),
      );
    });

  program
    .command('validate')
    .description(
      'check a config file, its templates and that every secret it names can be read; exit 2 listing every problem',
    )
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--skip-secrets', 'do not read secrets (for CI machines that have none); check everything else', false)
    .action(async (opts: { config: string; skipSecrets: boolean }) => {
      const { readConfig } = await inputs();
      const { describeConfig } = await import('./commands/validate.js');
      io.stdout.write(`${describeConfig(readConfig(opts.config, { checkSecrets: !opts.skipSecrets }))}\n`);
    });

  program
    .command('send-test')
    .description('send one test message: an email through the configured emailer, or a post to one channel')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--to <address>', 'email recipient')
    .option('--channel <name>', 'a channel under herald.channels')
    .action(async (opts: { config: string; to?: string; channel?: string }) => {
      if (!opts.to === !opts.channel) throw new UsageError('send-test: give either --to ADDRESS or --channel NAME');
      const config = await configFile(opts.config);
      const { sendTestEmail, sendTestToChannel } = await import('./commands/send-test.js');
      if (opts.channel) {
        const sent = await sendTestToChannel(config, opts.channel, config.processing.deliveryTimeoutMs);
        const id = sent.providerMessageId;
        io.stdout.write(`sent to ${sent.provider} '${opts.channel}'${id ? `: ${id}` : ''}\n`);
        return;
      }
      const sent = await sendTestEmail(config, opts.to as string, config.processing.deliveryTimeoutMs);
      io.stdout.write(
        `sent via ${sent.provider}: ${sent.providerMessageId}${sent.location ? ` (${sent.location})` : ''}\n`,
      );
    });

  const deliveries = program.command('deliveries').description('read the delivery log (herald.store)');
  deliveries
    .command('list')
    .description('deliveries, newest first: status, attempts, execution, destination and last error')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--execution <name>', "an execution's name, or project/domain/name")
    .option('--event <id>', 'one event')
    .option('--digest <id>', 'the deliveries folded into one digest')
    .option(
      '--status <status>',
      'pending, delivered, retrying, dead-lettered, silenced, folded or suppressed (pending and delivered are read by time: add --since on a large log)',
    )
    .option('--destination <text>', 'part of an address, a channel name or a destination key')
    .option('--since <time>', 'last attempt at or after: ISO 8601, or 30m / 2h / 7d ago')
    .option('--until <time>', 'last attempt before: ISO 8601, or 30m / 2h / 7d ago')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON', false)
    .action(async (opts: ListOptions & { config: string; json: boolean }) => {
      const { deliveryFilter, formatRows, withStore } = await store();
      const filter = deliveryFilter(opts);
      const config = await configFile(opts.config);
      const rows = await withStore(config, (store) => store.list(filter));
      io.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatRows(rows));
    });
  deliveries
    .command('undecodable')
    .description(
      "messages that could not be read, newest first: the queue's message id and why (they went to the dead-letter queue)",
    )
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--since <time>', 'received at or after: ISO 8601, or 30m / 2h / 7d ago')
    .option('--until <time>', 'received before: ISO 8601, or 30m / 2h / 7d ago')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON', false)
    .action(async (opts: ListOptions & { config: string; json: boolean }) => {
      const { formatUndecodable, undecodableFilter, withStore } = await store();
      const filter = undecodableFilter(opts);
      const config = await configFile(opts.config);
      const rows = await withStore(config, (store) => store.undecodableMessages(filter));
      io.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatUndecodable(rows));
    });
  deliveries
    .command('show')
    .description('every destination of one event, with every attempt')
    .argument('<event-id>')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--json', 'print JSON', false)
    .action(async (eventId: string, opts: { config: string; json: boolean }) => {
      const { formatEvent, withStore } = await store();
      const config = await configFile(opts.config);
      const { rows, attempts } = await withStore(config, async (store) => ({
        rows: await store.list({ eventId, limit: 1000 }),
        attempts: await store.attempts(eventId),
      }));
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ eventId, deliveries: rows, attempts }, null, 2)}\n`
          : formatEvent(eventId, rows, attempts),
      );
    });

  program
    .command('redeliver')
    .description('send an event again through the queue, to the destinations not delivered (all with --force)')
    .argument('<event-id>')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--destination <text>', 'only this destination: its key, or its label (an address, a channel name)')
    .option('--force', 'also the destinations that were delivered', false)
    .option('--json', 'print JSON', false)
    .action(async (eventId: string, opts: { config: string; destination?: string; force: boolean; json: boolean }) => {
      const config = await configFile(opts.config);
      const { formatRedelivery, redeliver } = await import('./commands/redeliver.js');
      const result = await redeliver(config, eventId, opts);
      io.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatRedelivery(result));
    });

  const digests = program
    .command('digests')
    .description('notifications folded into one message per window (rules with digest; herald.store)');
  digests
    .command('list')
    .description('digests, newest first: status, events held, rule and group, destination')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--status <status>', 'open, closed, sent, empty or dead-lettered')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON', false)
    .action(async (opts: { config: string; status?: string; limit?: string; json: boolean }) => {
      const { digestFilter, formatDigests } = await import('./commands/digests.js');
      const { withStore } = await store();
      const filter = digestFilter(opts);
      const config = await configFile(opts.config);
      const rows = await withStore(config, (store) => store.digests(filter));
      io.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatDigests(rows));
    });
  digests
    .command('show')
    .description('one digest: its window, how its send went, and every event it holds')
    .argument('<digest-id>')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--json', 'print JSON', false)
    .action(async (id: string, opts: { config: string; json: boolean }) => {
      const { formatDigest } = await import('./commands/digests.js');
      const { withStore } = await store();
      const config = await configFile(opts.config);
      const { digest, delivery } = await withStore(config, async (store) => ({
        digest: await store.digest(id),
        delivery: (await store.list({ eventId: `digest:${id}`, limit: 1 }))[0],
      }));
      if (!digest) throw new UsageError(`no digest ${id} (herald digests list shows those kept)`);
      if (opts.json) {
        const events = digest.events.map((e) => ({ ...e, event: JSON.parse(e.event) as unknown }));
        const { target: _target, openerEvent: _opener, ...row } = digest;
        io.stdout.write(`${JSON.stringify({ ...row, events, delivery }, null, 2)}\n`);
      } else {
        io.stdout.write(formatDigest(digest, delivery));
      }
    });

  const silences = program
    .command('silences')
    .description('mute deliveries for a while (herald.store): every replica honours a silence within seconds');
  silences
    .command('add')
    .description('silence deliveries whose event and destination match every --match, for --for')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option(
      '--match <field=pattern>',
      'project, domain, workflow, execution, phase or destination (a channel name or an email address) = a glob (*, ?, {a,b}, [abc]); repeatable',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .requiredOption('--for <duration>', 'how long: 30m, 2h, 7d')
    .requiredOption('--comment <text>', 'why, for whoever finds it later')
    .option('--by <who>', 'who silences (default: user@host)')
    .option('--json', 'print JSON', false)
    .action(
      async (opts: { config: string; match: string[]; for: string; comment: string; by?: string; json: boolean }) => {
        const { formatSilences, silenceToAdd } = await import('./commands/silences.js');
        const { withStore } = await store();
        const wanted = silenceToAdd(opts);
        const config = await configFile(opts.config);
        const added = await withStore(config, (store) => store.addSilence(wanted));
        io.stdout.write(opts.json ? `${JSON.stringify(added, null, 2)}\n` : formatSilences([added]));
      },
    );
  silences
    .command('list')
    .description('the silences in force (--all: those that ended too, while retention keeps them)')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--all', 'include ended silences', false)
    .option('--json', 'print JSON', false)
    .action(async (opts: { config: string; all: boolean; json: boolean }) => {
      const { formatSilences } = await import('./commands/silences.js');
      const { withStore } = await store();
      const config = await configFile(opts.config);
      const listed = await withStore(config, (store) => store.silences({ all: opts.all }));
      io.stdout.write(opts.json ? `${JSON.stringify(listed, null, 2)}\n` : formatSilences(listed));
    });
  silences
    .command('expire')
    .description('end a silence now; what it muted is not sent again unless asked (herald redeliver)')
    .argument('<id>')
    .requiredOption('-c, --config <file>', 'YAML config')
    .action(async (id: string, opts: { config: string }) => {
      const { withStore } = await store();
      const config = await configFile(opts.config);
      const ended = await withStore(config, (store) => store.expireSilence(id));
      if (!ended) throw new UsageError(`no silence ${id} in force (herald silences list --all shows those that ended)`);
      io.stdout.write(`expired ${id}\n`);
    });

  program
    .command('config')
    .description('the config file itself')
    .command('schema')
    .description("print the config file's JSON Schema, for editors (yaml-language-server, VS Code's YAML extension)")
    .action(async () => {
      const { configJsonSchema } = await import('@herald/core/config');
      io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });

  program
    .command('store')
    .description('the delivery log itself')
    .command('migrate')
    .description('bring the store up to date (herald run also does on start)')
    .requiredOption('-c, --config <file>', 'YAML config')
    .action(async (opts: { config: string }) => {
      const config = await configFile(opts.config);
      const { migrate } = await store();
      const applied = await migrate(config);
      io.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    });

  const deadLetters = program
    .command('dead-letters')
    .description("the dead-letter queue: SQS's, the Pub/Sub dead-letter topic's subscription, or the sandbox's file");
  deadLetters
    .command('list')
    .description('dead letters with kind, reason, event, destination, time and body, left where they are')
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON', false)
    .action(async (opts: { config: string; limit: string; json: boolean }) => {
      const config = await configFile(opts.config);
      const { formatDeadLetters, listDeadLetters } = await import('./commands/dead-letters.js');
      const { positive } = await store();
      const listed = await listDeadLetters(config, positive(opts.limit, '--limit'));
      io.stdout.write(opts.json ? `${JSON.stringify(listed.deadLetters, null, 2)}\n` : formatDeadLetters(listed));
    });
  deadLetters
    .command('redrive')
    .description(
      "send dead letters back to the processor's queue (original body and attributes), reopening in the delivery log what they gave up on; each is removed only once sent",
    )
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--since <time>', 'only those dead-lettered at or after: ISO 8601, or 30m / 2h / 7d ago')
    .option('--limit <n>', 'at most this many')
    .option('--dry-run', 'only list what would be redriven; move nothing', false)
    .option('--without-store', 'redrive although the config keeps no delivery log (herald.store)', false)
    .action(
      async (opts: { config: string; since?: string; limit?: string; dryRun: boolean; withoutStore: boolean }) => {
        const config = await configFile(opts.config);
        const { formatRedriveLine, formatRedriveSummary, redriveDeadLetters } = await import(
          './commands/dead-letters.js'
        );
        const { positive, time } = await store();
        const result = await redriveDeadLetters(
          config,
          {
            since: opts.since === undefined ? undefined : time(opts.since, '--since'),
            limit: opts.limit === undefined ? undefined : positive(opts.limit, '--limit'),
            dryRun: opts.dryRun,
            withoutStore: opts.withoutStore,
          },
          (line) => io.stdout.write(formatRedriveLine(line)),
        );
        io.stdout.write(formatRedriveSummary(result, opts.dryRun));
        if (result.counts.failed > 0) {
          throw new HeraldError(
            'dead-letters redrive: a dead letter could not be sent back; it and the rest were left in place',
          );
        }
      },
    );

  const infra = program.command('infra').description('create the cloud resources a config needs');
  infra
    .command('up')
    .description(
      'create what is missing (topic, queues, subscription, sender identity) and report every change to what exists',
    )
    .requiredOption('-c, --config <file>', 'YAML config')
    .option('--dry-run', 'only read: print what would be created or changed, and modify nothing', false)
    .action(async (opts: { config: string; dryRun: boolean }) => {
      const config = await configFile(opts.config);
      const counts = { create: 0, change: 0, keep: 0, note: 0 };
      const report = (step: InfraStep) => {
        counts[step.action]++;
        io.stdout.write(`${step.resource.padEnd(14)} ${step.name}  ${step.status}\n`);
      };
      const options = { dryRun: opts.dryRun };
      if (config.type === 'aws') await (await import('./infra/aws.js')).awsInfraUp(config, report, options);
      else if (config.type === 'gcp') await (await import('./infra/gcp.js')).gcpInfraUp(config, report, options);
      else throw new UsageError(`herald infra up: nothing to create for type ${config.type}`);
      io.stdout.write(`${infraSummary(counts, opts.dryRun)}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (err) {
    return await report(err, io);
  }
}

/** The last line of `herald infra up`: `2 created, 1 changed, 4 unchanged`, or the dry run's plan. */
function infraSummary(counts: Record<InfraStep['action'], number>, dryRun: boolean): string {
  if (dryRun) {
    return `dry run: would create ${counts.create}, would change ${counts.change}, ${counts.keep} unchanged; nothing was modified`;
  }
  const changes = counts.create + counts.change === 0 ? 'no changes: ' : '';
  return `${changes}${counts.create} created, ${counts.change} changed, ${counts.keep} unchanged`;
}

async function report(err: unknown, io: CliIo): Promise<number> {
  if (err instanceof CommanderError) {
    // Help and version exit 0 through here too.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  // A DecodeError here is an event the user handed in (e.g. a notification on RUNNING).
  if (
    err instanceof ConfigError ||
    err instanceof UsageError ||
    err instanceof InvalidArgumentError ||
    err instanceof DecodeError
  ) {
    io.stderr.write(`herald: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof HeraldError) {
    // DeliveryError included: the provider's reason, not a stack trace.
    io.stderr.write(`herald: ${err.message}\n`);
    return EXIT.failure;
  }
  if (err instanceof Error && '$metadata' in err) {
    // An AWS service answered with an error the command could not handle: say which, briefly.
    io.stderr.write(`herald: AWS ${err.name}: ${err.message}\n`);
    return EXIT.failure;
  }
  io.stderr.write(`herald: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.failure;
}
