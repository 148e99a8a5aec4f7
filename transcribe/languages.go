package transcribe

import "strings"

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

// LanguageCode normalizes a language given as a code or a full name ("en",
// "EN", "english") to whisper's code. It returns false for anything else.
func LanguageCode(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, l := range languages {
		if l.code == s || l.name == s {
			return l.code, true
		}
	}
	return "", false
}
