package tokens_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/earshot-dev/earshot/agentmode/tokens"
)

var (
	loadOnce sync.Once
	ours     = map[string]*tokens.Encoding{}
	ref      = map[string]*tiktoken.Tiktoken{}
)

// encodings loads each encoding twice: earshot's counter and tiktoken-go,
// the reference it must agree with.
func encodings(t testing.TB) {
	loadOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
		for _, name := range tokens.Names {
			e, err := tokens.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tiktoken.GetEncoding(name)
			if err != nil {
				t.Fatal(err)
			}
			ours[name], ref[name] = e, r
		}
	})
}

// samples are texts that exercise every alternative of the split patterns:
// contractions in both cases, letters of every case class, marks, digits
// in long runs, punctuation runs with newlines and slashes, whitespace
// runs before words, at the end and around newlines, and JSON.
var samples = []string{
	"",
	"a",
	"Hello, world!",
	"I'm sure they'll say we've been there; he'd GO, SHE'S DONE.",
	"'s 'S 't 're 'RE 've 'm 'll 'd 'x ''s",
	"  leading and trailing  ",
	"tabs\tand\nnewlines\r\n\r\nand   \n  mixed \n",
	"1234567 12 3.14159 1,000,000 ٣٤٥ Ⅻ ½",
	"path/to/file.txt //comment\n/*x*/ a//\n//",
	`{"mode":"agent","text":"Cancel the meeting.","intents":[{"kind":"command","start":1.25,"end":5.3}],"tokens":{"encoding":"o200k_base","count":123}}`,
	"Ünïcödé naïve café ÀÉÎÕÜ straße ǅemal ǈ",
	"中文文本 日本語のテキスト 한국어 텍스트",
	"e\u0301 a\u0300\u0301b \u0301\u0302 x\u20dd",
	"ʰʲʷ ˈstress ˌsecond",
	"emoji 😀👍🏽 🇩🇪 ❤️ zwj 👨‍👩‍👧",
	"ABCdef ABC DEFghi ABC'S abc'S Ab'Ll",
	"   \u00a0\u2003 nbsp\u00a0space \u0085nel",
	"<|endoftext|> special <|fim_prefix|>",
	"x\x00y\x01\x7f",
	"\xff\xfe invalid \xc3 utf8 \xe2\x82",
	"mm-hmm uh-huh th- the I I we should we should",
	strings.Repeat("a", 300) + " " + strings.Repeat("ab", 200),
	strings.Repeat("🙂", 50),
}

func TestCountMatchesTiktoken(t *testing.T) {
	encodings(t)
	texts := append([]string(nil), samples...)
	// Real prose: the project's README.
	if b, err := os.ReadFile(filepath.Join("..", "..", "README.md")); err == nil {
		texts = append(texts, string(b))
	}
	for _, name := range tokens.Names {
		for _, s := range texts {
			got, want := ours[name].Count(s), len(ref[name].EncodeOrdinary(s))
			if got != want {
				t.Errorf("%s: Count(%.60q) = %d, tiktoken-go gives %d", name, s, got, want)
			}
		}
	}
}

func TestLoadUnknown(t *testing.T) {
	if _, err := tokens.Load("gpt2-nope"); err == nil || !strings.Contains(err.Error(), "o200k_base") {
		t.Errorf("Load(unknown) error = %v, want one naming the known encodings", err)
	}
}

func FuzzCount(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		encodings(t)
		for _, name := range tokens.Names {
			got, want := ours[name].Count(s), len(ref[name].EncodeOrdinary(s))
			if got != want {
				t.Fatalf("%s: Count(%q) = %d, tiktoken-go gives %d", name, s, got, want)
			}
		}
	})
}

func BenchmarkCount(b *testing.B) {
	encodings(b)
	s := samples[9]
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		b.Run(name, func(b *testing.B) {
			e := ours[name]
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				e.Count(s)
			}
		})
		b.Run(name+"/tiktoken-go", func(b *testing.B) {
			r := ref[name]
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				r.EncodeOrdinary(s)
			}
		})
	}
}
