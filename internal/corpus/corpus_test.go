package corpus

import "testing"

func TestUnescape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`What is rather\u007f Langlade?`, "What is rather Langlade?"},
		{`a Jonqui\u00e8re umm`, "a Jonquière umm"},
		{`no escapes here`, "no escapes here"},
		{`a stray \u and \u12`, `a stray \u and \u12`},
		{`\u007f`, ""},
	} {
		if got := unescape(c.in); got != c.want {
			t.Errorf("unescape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
