// Route regexes: a dialect pattern (crds/proxy-config/regex-dialect.ts) compiled to a prefix matcher.
// SMI anchors route regexes at the start of the input only: "/api" matches "/api/v1".

import { translateRegex } from '../../../crds/proxy-config/regex-dialect.ts';

/** A compiled route regex: true when the pattern matches a prefix of `input`. */
export interface PrefixMatcher {
  readonly source: string;
  test(input: string): boolean;
}

/** Compiles a dialect pattern; throws a RangeError naming the pattern when it is not in the dialect. */
export function compilePrefixRegex(source: string): PrefixMatcher {
  const t = translateRegex(source);
  if (!t.ok) throw new RangeError(`regex ${JSON.stringify(source)}: ${t.reason} (at offset ${t.position})`);
  // Placeholder engine until the linear-time matcher lands: the backtracking engine over the translation.
  const re = new RegExp(`^(?:${t.linearSource})`);
  return { source, test: (input) => re.test(input) };
}
