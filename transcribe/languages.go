package transcribe

import (
	"fmt"
	"strings"
)

// languages is whisper's language table (code -> full name), in whisper's
// token order. It is data copied from whisper.cpp 1.9.1 (src/whisper.cpp,
// g_lang) so that surfaces can validate a language and name it (OpenAI's
// verbose_json says "english", not "en") without cgo.
var languages = []struct{ code, name string }{
	{"en", "english"},
	{"zh", "chinese"},
	{"de", "german"},
	{"es", "spanish"},
	{"ru", "russian"},
	{"ko", "korean"},
	{"fr", "french"},
	{"ja", "japanese"},
	{"pt", "portuguese"},
	{"tr", "turkish"},
	{"pl", "polish"},
	{"ca", "catalan"},
	{"nl", "dutch"},
	{"ar", "arabic"},
	{"sv", "swedish"},
	{"it", "italian"},
	{"id", "indonesian"},
	{"hi", "hindi"},
	{"fi", "finnish"},
	{"vi", "vietnamese"},
	{"he", "hebrew"},
	{"uk", "ukrainian"},
	{"el", "greek"},
	{"ms", "malay"},
	{"cs", "czech"},
	{"ro", "romanian"},
	{"da", "danish"},
	{"hu", "hungarian"},
	{"ta", "tamil"},
	{"no", "norwegian"},
	{"th", "thai"},
	{"ur", "urdu"},
	{"hr", "croatian"},
	{"bg", "bulgarian"},
	{"lt", "lithuanian"},
	{"la", "latin"},
	{"mi", "maori"},
	{"ml", "malayalam"},
	{"cy", "welsh"},
	{"sk", "slovak"},
	{"te", "telugu"},
	{"fa", "persian"},
	{"lv", "latvian"},
	{"bn", "bengali"},
	{"sr", "serbian"},
	{"az", "azerbaijani"},
	{"sl", "slovenian"},
	{"kn", "kannada"},
	{"et", "estonian"},
	{"mk", "macedonian"},
	{"br", "breton"},
	{"eu", "basque"},
	{"is", "icelandic"},
	{"hy", "armenian"},
	{"ne", "nepali"},
	{"mn", "mongolian"},
	{"bs", "bosnian"},
	{"kk", "kazakh"},
	{"sq", "albanian"},
	{"sw", "swahili"},
	{"gl", "galician"},
	{"mr", "marathi"},
	{"pa", "punjabi"},
	{"si", "sinhala"},
	{"km", "khmer"},
	{"sn", "shona"},
	{"yo", "yoruba"},
	{"so", "somali"},
	{"af", "afrikaans"},
	{"oc", "occitan"},
	{"ka", "georgian"},
	{"be", "belarusian"},
	{"tg", "tajik"},
	{"sd", "sindhi"},
	{"gu", "gujarati"},
	{"am", "amharic"},
	{"yi", "yiddish"},
	{"lo", "lao"},
	{"uz", "uzbek"},
	{"fo", "faroese"},
	{"ht", "haitian creole"},
	{"ps", "pashto"},
	{"tk", "turkmen"},
	{"nn", "nynorsk"},
	{"mt", "maltese"},
	{"sa", "sanskrit"},
	{"lb", "luxembourgish"},
	{"my", "myanmar"},
	{"bo", "tibetan"},
	{"tl", "tagalog"},
	{"mg", "malagasy"},
	{"as", "assamese"},
	{"tt", "tatar"},
	{"haw", "hawaiian"},
	{"ln", "lingala"},
	{"ha", "hausa"},
	{"ba", "bashkir"},
	{"jw", "javanese"},
	{"su", "sundanese"},
	{"yue", "cantonese"},
}

// LanguageName returns whisper's full name for a language code ("en" ->
// "english"), and false for a code whisper does not know.
func LanguageName(code string) (string, bool) {
	for _, l := range languages {
		if l.code == code {
			return l.name, true
		}
	}
	return "", false
}

// LanguageCode normalizes a language given as a code, a full name or a
// BCP-47 tag ("en", "EN", "english", "en-US", "pt_BR", "zh-Hant-TW") to
// whisper's code. A tag is read by its language subtag, the part before the
// first - or _; whisper has one model per language, not per region or
// script. It returns false for anything else.
func LanguageCode(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i > 0 && isTag(s) {
		s = s[:i]
	}
	if c, ok := languageAliases[s]; ok {
		s = c
	}
	for _, l := range languages {
		if l.code == s || l.name == s {
			return l.code, true
		}
	}
	return "", false
}

// isTag reports whether s has the shape of a BCP-47 tag: a language subtag
// of 2 or 3 letters, then subtags of 1 to 8 letters or digits, separated by
// - (or _, as in POSIX locales).
func isTag(s string) bool {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	if len(parts) < 2 || len(parts[0]) < 2 || len(parts[0]) > 3 || strings.Count(s, "-")+strings.Count(s, "_") != len(parts)-1 {
		return false
	}
	for i, p := range parts {
		if len(p) > 8 {
			return false
		}
		for _, r := range p {
			if !('a' <= r && r <= 'z' || i > 0 && '0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}

// languageAliases are codes BCP-47 uses for a language whisper files under
// another code: Norwegian Bokmål (nb-NO, the usual Norwegian tag), Javanese
// (whisper says jw), and the withdrawn codes still sent for Hebrew and
// Indonesian.
var languageAliases = map[string]string{
	"nb": "no",
	"jv": "jw",
	"iw": "he",
	"in": "id",
}

// UnknownLanguageError is a language whisper does not know. Its text is the
// one message every surface shows for it; it is an ErrInvalidOptions
// (errors.Is holds).
type UnknownLanguageError struct {
	Language string // as given
}

func (e *UnknownLanguageError) Error() string {
	return fmt.Sprintf("unknown language %q: give a code such as en, a name such as english, or a tag such as en-US", e.Language)
}

// Unwrap makes the error an ErrInvalidOptions.
func (e *UnknownLanguageError) Unwrap() error { return ErrInvalidOptions }

// Parameter names the option at fault, for the surfaces' errors.
func (e *UnknownLanguageError) Parameter() string { return "language" }

// ParseLanguage turns a language as a user gives it (see LanguageCode) into
// whisper's code; empty or "auto" is "" (detect). A language whisper does
// not know is an *UnknownLanguageError.
func ParseLanguage(s string) (string, error) {
	switch t := strings.TrimSpace(s); strings.ToLower(t) {
	case "", "auto":
		return "", nil
	}
	code, ok := LanguageCode(s)
	if !ok {
		return "", &UnknownLanguageError{Language: s}
	}
	return code, nil
}
