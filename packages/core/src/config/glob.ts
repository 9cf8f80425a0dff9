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
  // An unbalanced `[`, `{` or `(` is refused; picomatch would otherwise read `{a,b` as a
  // pattern that matches nothing, and a rule would go quiet without a word.
  strictBrackets: true,
};

/**
 * Compiles a glob once, for matching whole names: `*` (or `**`) any run of characters, dots
 * included; `?` exactly one; `{train,eval}` either; `[abc]` / `[a-z]` / `[^abc]` one of (not)
 * these; a leading `!` negates the whole pattern. `\` escapes a special character.
 * A `*` alone needs at least one character (picomatch's rule); `**` matches the empty name too.
 * @throws GlobError when the pattern cannot be compiled.
 * @example compileGlob('core.*.my_wf').test('core.flyte_basics.hello_world.my_wf') // true
 */
export function compileGlob(pattern: string): RegExp {
  try {
    return picomatch.makeRe(pattern, OPTIONS);
  } catch (err) {
    throw new GlobError(pattern, (err as Error).message, { cause: err });
  }
}
