import picomatch from 'picomatch';
import { GlobError } from '../contract/errors.js';

/*
 * The names Herald matches with globs (a rule's `match.workflow`, a silence's patterns) are
 * Flyte names and addresses, never paths: `core.flyte_basics.hello_world.my_wf` is one dotted
 * string. So a dot is an ordinary character, and a `*` crosses it, as `*` always has in Herald;
 * `**` means the same. What picomatch adds is its syntax: `{a,b}`, `[abc]`, `[^abc]`, `!…`.
 */
const OPTIONS: picomatch.PicomatchOptions = {
  // A single `*` is a globstar: it matches any run of characters, `/` included.
  bash: true,
  // `*` and `?` match a leading dot too, as any other character.
  dot: true,
  // An unbalanced `[` or `{` is refused; picomatch would otherwise read `{a,b` as a
  // pattern that matches nothing, and a rule would go quiet without a word.
  strictBrackets: true,
  // `@(a|b)`, `+(…)` and the like are not Herald's syntax: parentheses and bars are literal
  // characters (see literalParentheses).
  noextglob: true,
};

/** What a pattern of stars alone matches: every name, the empty one included (an event with no workflow). */
const EVERYTHING = /^[\s\S]*$/;

/**
 * Compiles a glob once, for matching whole names: `*` (or `**`) any run of characters, dots
 * included; `?` exactly one; `{train,eval}` either; `[abc]` / `[a-z]` / `[^abc]` one of (not)
 * these; a leading `!` negates the whole pattern. `\` escapes a special character.
 * A pattern of stars alone (`*`, `**`) matches every name, the empty one too, as `*` always has.
 * @throws GlobError when the pattern cannot be compiled.
 * @example compileGlob('core.*.my_wf').test('core.flyte_basics.hello_world.my_wf') // true
 */
export function compileGlob(pattern: string): RegExp {
  // picomatch's `*` alone needs one character at least; Herald's has always matched any name,
  // and a rule `workflow: "*"` must keep hearing about events that name no workflow.
  if (/^\*+$/.test(pattern)) return EVERYTHING;
  try {
    return picomatch.makeRe(literalParentheses(pattern), OPTIONS);
  } catch (err) {
    throw new GlobError(pattern, (err as Error).message, { cause: err });
  }
}

/**
 * The pattern with its unescaped parentheses and bars escaped: picomatch passes them through as
 * regular expression groups and alternations even without extglobs, so `proj(1)` would match
 * `proj1` and not itself.
 */
function literalParentheses(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '\\') {
      out += char + (pattern[i + 1] ?? '');
      i++;
    } else out += char === '(' || char === ')' || char === '|' ? `\\${char}` : char;
  }
  return out;
}
