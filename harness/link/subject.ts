// Subject normalisation for matching commits to steps across postings (v2, v3)
// and the merged tree.

/**
 * Normalised form of a patch subject:
 * - leading bracket tags such as "[PATCH v2 05/15]", "[RFC PATCH v5 06/45]",
 *   "[PATCH 5/15]", "[v3]" are removed (repeatedly);
 * - typographic and ASCII quotes (' " ` ‘ ’ “ ”) all become one kind of quote;
 * - whitespace is trimmed and collapsed, a trailing period dropped;
 * - the result is lower-cased.
 */
export function normaliseSubject(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (;;) {
    const m = /^\[[^\]]*\]\s*/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
  }
  // a bare "PATCH v2 05/15:" style prefix left by some mail tools
  s = s.replace(/^(?:RFC\s+)?PATCH(?:\s+v\d+)?(?:\s+\d+\/\d+)?\s*:?\s+/i, '');
  s = s.replace(/[‘’‚‛`´'“”„‟"]/g, '"');
  s = s.replace(/\s+/g, ' ').trim().replace(/\.$/, '');
  return s.toLowerCase();
}
