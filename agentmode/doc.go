// Package agentmode shapes a transcript for whoever reads it: raw (whisper's
// own output, verbatim), clean (readable) or agent (structured for an LLM).
// It is pure text processing: no I/O, deterministic, and a Formatter is safe
// for concurrent use.
//
// Clean mode removes what carries no meaning and repairs the text around
// it: filled pauses (um, uh, er), a word or phrase said twice in a row and
// stutters ("I I", "we should we should", "th- the"), and filler phrases
// where pauses set them off ("it was, like, huge"; "remind me to, you know,
// send"), never where they mean something ("I like it", "you know the
// answer", "I mean it"). Casing and punctuation are mended (a sentence end
// that stood on a removed word moves to the word before; a sentence starts
// with a capital) and paragraphs start at long pauses.
//
// Agent mode does all that, resolves self-repairs ("book the, no wait,
// cancel the meeting" -> "cancel the meeting"; "on Tuesday, sorry,
// Wednesday" -> "on Wednesday"; "Book it for two. Scratch that.") with the
// learned model of package repair, and splits the text into intents: at
// sentence ends (not at a "?", "!" or "..." that the casing or the words
// after it show to be inside a title: "Rate Who Moved My Cheese? a one"),
// and where the learned model of package boundary finds a
// new request after "and", "and then", "and also", "then" or a comma,
// never inside names ("Trinidad and Tobago", "Simon and Garfunkel"), lists
// or conditionals. It never drops a request: a request after a connector
// is no editing term, and no repair reaches back over it. Each intent is a
// command, a question or a statement, with its time span, the mean
// probability of its words and, where the model split it off, the
// model's confidence in that boundary.
//
// Every removal carries a confidence too (the repair or boundary model's
// probability, or a fixed prior for rule-based edits), and
// Options.MinConfidence is the line an edit or a split must pass: when
// unsure, words stay and requests stay together.
//
// Every edit is accounted for: the output's words and the "removed"
// entries, in order, are exactly the input's words. English rules apply to
// English only; other languages get the language-neutral edits (repeated
// phrases of two or more words, stutters, punctuation and casing).
// Formatting is idempotent: agent mode applied to its own text changes
// nothing (edits are repeated until they settle).
//
// Outputs are JSON documents (schema.json, Schema) that state their own
// size in tokens of a tiktoken encoding (package tokens; o200k_base by
// default). With a budget (Options.MaxTokens) the document never exceeds
// it: detail goes first (the removed list, then per-word detail), then
// whole intents (or paragraphs, or raw segments) from the end, then words
// from the end of the first one; the document then says truncated and
// where the next page starts (next), so that paging reaches everything
// exactly once.
package agentmode
