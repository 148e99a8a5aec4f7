package transcribe_test

import (
	"errors"
	"testing"

	"github.com/earshot-dev/earshot/transcribe"
)

// BCP-47 tags (what browsers, phones and OpenAI clients send) are read by
// their language subtag.
func TestLanguageTags(t *testing.T) {
	tests := []struct{ in, code string }{
		{"en-US", "en"},
		{"en_GB", "en"},
		{"EN-us", "en"},
		{"pt_BR", "pt"},
		{"pt-BR", "pt"},
		{"zh-Hant-TW", "zh"},
		{"zh-Hans", "zh"},
		{"sr-Latn-RS", "sr"},
		{"es-419", "es"},
		{"de-DE-1996", "de"},
		{"yue-HK", "yue"},
		{"haw-US", "haw"},
		{"nb-NO", "no"},
		{"nb", "no"},
		{"jv-ID", "jw"},
		{"iw-IL", "he"},
		{" fr-CA ", "fr"},
		{"haitian creole", "ht"},
		// Not tags, or tags of languages whisper does not know.
		{"xx-US", ""},
		{"en-", ""},
		{"-en", ""},
		{"en--US", ""},
		{"en-US-", ""},
		{"e-US", ""},
		{"engl-US", ""},
		{"en-toolongsubtag", ""},
		{"en-U$", ""},
		{"english-US", ""},
		{"en US", ""},
		{"klingon", ""},
	}
	for _, tt := range tests {
		code, ok := transcribe.LanguageCode(tt.in)
		if code != tt.code || ok != (tt.code != "") {
			t.Errorf("LanguageCode(%q) = %q, %v; want %q", tt.in, code, ok, tt.code)
		}
	}
}

func TestParseLanguage(t *testing.T) {
	tests := []struct {
		in, code string
		err      string
	}{
		{"", "", ""},
		{" auto ", "", ""},
		{"AUTO", "", ""},
		{"english", "en", ""},
		{"en-US", "en", ""},
		{"elvish", "", `unknown language "elvish": give a code such as en, a name such as english, or a tag such as en-US`},
		{"xx-YY", "", `unknown language "xx-YY": give a code such as en, a name such as english, or a tag such as en-US`},
	}
	for _, tt := range tests {
		code, err := transcribe.ParseLanguage(tt.in)
		if code != tt.code {
			t.Errorf("ParseLanguage(%q) = %q, want %q", tt.in, code, tt.code)
		}
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseLanguage(%q): %v", tt.in, err)
		case tt.err != "":
			var ule *transcribe.UnknownLanguageError
			if err == nil || err.Error() != tt.err || !errors.As(err, &ule) || ule.Language != tt.in || !errors.Is(err, transcribe.ErrInvalidOptions) {
				t.Errorf("ParseLanguage(%q) error %v, want %q (an ErrInvalidOptions)", tt.in, err, tt.err)
			}
		}
	}
}

// Validate (what every surface calls) takes the tags too.
func TestValidateTakesTags(t *testing.T) {
	o := transcribe.Options{Language: "pt_BR"}
	if err := o.Validate(); err != nil || o.Language != "pt" {
		t.Errorf("Validate: %v, language %q", err, o.Language)
	}
}
