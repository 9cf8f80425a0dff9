/**
 * What is wrong with a URL Herald is to send requests to, or undefined when it is usable: it
 * must parse, use http or https, and carry no `user:password@` (fetch refuses such a URL, so
 * every send would fail). The answer never quotes the URL: it may be a secret (a Slack webhook
 * URL is one), so callers say where it came from instead.
 */
export function httpUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'expected a valid http(s) URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'expected an http or https URL';
  if (parsed.username !== '' || parsed.password !== '') {
    return 'expected a URL without user:password@ (requests refuse one; send credentials in a header)';
  }
  return undefined;
}

// A URL is shown in a message mostly because it did not parse, so these work on the text,
// never through `new URL`. Userinfo runs to the last `@` before the path, as a URL parser reads it.
const USERINFO_AFTER_SCHEME = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi;
const USERINFO_WITHOUT_SCHEME = /^[^\s/?#:@]+:[^\s/?#]*@/;
const QUERY_VALUE = /([?&][^\s=&#?]+=)[^\s&#]*/g;

/**
 * Text as it may be shown in a message or a preview: in every URL in it, `user:password@`
 * becomes `***@` and each query value becomes `***` (webhook URLs carry tokens there), whether
 * or not the URL is valid.
 * @example maskUrlCredentials('https://bot:hunter2@hooks.example.com/x?token=abc') // 'https://***@hooks.example.com/x?token=***'
 */
export function maskUrlCredentials(text: string): string {
  return text
    .replace(USERINFO_AFTER_SCHEME, '$1***@')
    .replace(USERINFO_WITHOUT_SCHEME, '***@')
    .replace(QUERY_VALUE, '$1***');
}
