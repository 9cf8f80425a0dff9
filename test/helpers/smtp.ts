import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server (smtp-server) on loopback that offers STARTTLS (with smtp-server's own
 * self-signed certificate) and keeps every message it accepts, parsed.
 */
export class TestSmtpServer {
  /** Accepted messages; `secure` is true when the session had been upgraded with STARTTLS. */
  readonly received: { raw: string; parsed: Email; envelopeTo: string[]; secure: boolean }[] = [];
  private server: SMTPServer | undefined;
  port = 0;

  /** Addresses refused at RCPT TO with a 550, as a server refuses an unknown mailbox. */
  readonly refuse = new Set<string>();

  /** Connection errors (a client killed mid-session resets its connections); kept, not thrown. */
  readonly errors: Error[] = [];

  /**
   * Wait before accepting each MAIL FROM: a slow server. The wait comes before the message is
   * sent, so a client that goes away meanwhile has delivered nothing.
   */
  delayMs = 0;

  async start(port = 0): Promise<number> {
    this.server = new SMTPServer({
      authOptional: true,
      logger: false,
      onMailFrom: (_address, _session, callback) => {
        setTimeout(() => callback(), this.delayMs);
      },
      onRcptTo: (address, _session, callback) => {
        if (this.refuse.has(address.address)) {
          callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
          return;
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          void PostalMime.parse(raw).then((parsed) => {
            this.received.push({
              raw: raw.toString('utf8'),
              parsed,
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              secure: session.secure,
            });
            callback();
          }, callback);
        });
      },
    });
    // Without a listener, a reset connection would be an uncaught exception in the test process.
    this.server.on('error', (err) => this.errors.push(err));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    const address = this.server.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.port = address.port;
    return this.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
