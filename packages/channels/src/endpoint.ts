import { maskUrlCredentials } from '@herald/core';
import type { SecretNeed } from '@herald/core/config';
import type { SecretReader } from '@herald/core/runtime';
import { redactUrl } from './http.js';

/**
 * The URL a channel posts to: written in the file (`url:`) or read from a secret
 * (`…EnvVar`, `…File`), with where it came from and how it may be shown.
 */
export class ChannelEndpoint {
  private constructor(
    readonly url: string,
    /** Named in an error instead of the URL, which may be a secret. */
    readonly source: string,
    private readonly masked: boolean,
  ) {}

  /**
   * Reads it. A malformed URL is not refused here: the loader reports it when it can read the
   * secret, and each send fails permanently, naming {@link source}, until it is fixed.
   * @param secret where the URL is read from when it is not written, and the key a missing
   * one is reported under (e.g. `herald.channels.x.urlEnvVar`).
   * @throws ConfigError when the secret is missing.
   */
  static read(secrets: SecretReader, written: string | undefined, secret: SecretNeed, path: string): ChannelEndpoint {
    const value =
      written === undefined ? secrets.read(secret.sources, secret.keyPath) : secrets.written(written, `${path}.url`);
    return new ChannelEndpoint(value.value, value.source, value.masked);
  }

  /**
   * What `herald render` shows: a secret as `***`; a URL written in the file as written, so a
   * reader can check it, with only its credentials and query values masked.
   */
  get preview(): string {
    return this.masked ? redactUrl(this.url) : maskUrlCredentials(this.url);
  }
}
