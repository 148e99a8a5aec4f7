// Package tokens counts tokens the way OpenAI's tiktoken encodings split
// text (o200k_base, cl100k_base, p50k_base, r50k_base), so that earshot can
// say how much of an LLM's context its output takes and keep it within a
// budget.
//
// The byte-pair ranks come from github.com/pkoukk/tiktoken-go-loader (offline,
// embedded), and the counts equal those of github.com/pkoukk/tiktoken-go,
// which the tests check on real text and fuzz against. earshot does not call
// tiktoken-go at run time because its regexp2-based pre-tokenizer is about
// 1.6 µs per token (223 µs for a 140-token agent-mode answer, 59 ms for a
// 137 KB transcript), far over agent mode's budget of 20 µs per utterance;
// here each encoding's split pattern is written out as code instead, which
// counts the same text in a few microseconds.
//
// Concurrency: an Encoding is immutable once loaded and safe for concurrent
// use. Loading one parses about 200,000 ranks (~100 ms, ~30 MB), so load each
// encoding once and keep it.
package tokens

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Default is the encoding used when none is named: o200k_base, the encoding
// of OpenAI's current models (GPT-4o and later).
const Default = "o200k_base"

// Names are the encodings earshot can count with.
var Names = []string{"o200k_base", "cl100k_base", "p50k_base", "r50k_base"}

// ErrUnknownEncoding is returned by Load for a name not in Names.
var ErrUnknownEncoding = errors.New("tokens: unknown encoding")

// Encoding counts tokens of one tiktoken encoding.
type Encoding struct {
	name  string
	ranks rankTable
	split func(s string, piece func(string))

	// cache remembers the token counts of recent pieces: earshot's JSON
	// repeats the same keys and words, and one look here is several times
	// cheaper than the rank map, whose 200,000 keys miss the CPU caches.
	// An entry is the top 48 bits of the piece's hash and its count in the
	// low 16 bits, in one word, so that readers never see half a write.
	seed  maphash.Seed
	cache [cacheSize]atomic.Uint64
}

const cacheSize = 4096

// Load reads an encoding's ranks from the embedded files.
func Load(name string) (*Encoding, error) {
	var split func(string, func(string))
	switch name {
	case "o200k_base":
		split = splitO200k
	case "cl100k_base":
		split = splitCl100k
	case "p50k_base", "r50k_base":
		split = splitGPT2
	default:
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownEncoding, name, strings.Join(Names, ", "))
	}
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("tokens: loading %s: %w", name, err)
	}
	return &Encoding{name: name, ranks: newRankTable(ranks), split: split, seed: maphash.MakeSeed()}, nil
}

// Name is the encoding's name, such as "o200k_base".
func (e *Encoding) Name() string { return e.name }

// Count is the number of tokens tiktoken's encoder gives for s, with special
// tokens such as "<|endoftext|>" counted as ordinary text. Invalid UTF-8
// bytes count as U+FFFD each, as in tiktoken-go.
func (e *Encoding) Count(s string) int {
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
	n := 0
	e.split(s, func(p string) { n += e.cachedPieceTokens(p) })
	return n
}

func (e *Encoding) cachedPieceTokens(p string) int {
	h := maphash.String(e.seed, p)
	slot := &e.cache[h%cacheSize]
	if v := slot.Load(); v != 0 && v>>16 == h>>16 {
		return int(v & 0xffff)
	}
	n := e.pieceTokens(p)
	if n < 0xffff {
		slot.Store(h>>16<<16 | uint64(n))
	}
	return n
}

// pieceTokens is the number of tokens byte-pair encoding makes of one piece
// of the split, merging the lowest-ranked adjacent pair first, leftmost on a
// tie, as tiktoken does.
func (e *Encoding) pieceTokens(p string) int {
	if _, ok := e.ranks.get(p); ok {
		return 1
	}
	if len(p) <= 1 {
		return len(p)
	}
	const maxRank = int(^uint(0) >> 1)
	// starts[i] is where part i begins; rank[i] the rank of merging parts i
	// and i+1 (maxRank when that pair is not a token).
	var startBuf, rankBuf [64]int
	starts, rank := startBuf[:0], rankBuf[:0]
	if len(p)+1 > len(startBuf) {
		starts, rank = make([]int, 0, len(p)+1), make([]int, 0, len(p)+1)
	}
	for i := 0; i <= len(p); i++ {
		starts = append(starts, i)
		rank = append(rank, maxRank)
	}
	pairRank := func(i int) int {
		if i+2 < len(starts) {
			if r, ok := e.ranks.get(p[starts[i]:starts[i+2]]); ok {
				return r
			}
		}
		return maxRank
	}
	for i := 0; i+2 < len(starts); i++ {
		rank[i] = pairRank(i)
	}
	for len(starts) > 1 {
		best, at := maxRank, -1
		for i := 0; i < len(starts)-1; i++ {
			if rank[i] < best {
				best, at = rank[i], i
			}
		}
		if at < 0 {
			break
		}
		// Merge part at with part at+1: the new part's pair ranks change,
		// and so does its left neighbour's.
		starts = append(starts[:at+1], starts[at+2:]...)
		rank = append(rank[:at+1], rank[at+2:]...)
		rank[at] = pairRank(at)
		if at > 0 {
			rank[at-1] = pairRank(at - 1)
		}
	}
	return len(starts) - 1
}

// rankTable maps token bytes to ranks. It holds no pointers, so the
// garbage collector never scans its 200,000 entries: a map[string]int made
// every collection cycle walk them, which cost agent mode a quarter of its
// time on short utterances.
type rankTable struct {
	arena []byte // every token's bytes, one after another
	slots []rankSlot
	mask  uint64
	seed  maphash.Seed
}

type rankSlot struct {
	off  uint32
	n    uint32
	rank int32 // -1: empty
}

func newRankTable(ranks map[string]int) rankTable {
	size := 1
	for size < 2*len(ranks) {
		size *= 2
	}
	t := rankTable{slots: make([]rankSlot, size), mask: uint64(size - 1), seed: maphash.MakeSeed()}
	for i := range t.slots {
		t.slots[i].rank = -1
	}
	for tok, r := range ranks {
		off := len(t.arena)
		t.arena = append(t.arena, tok...)
		i := maphash.String(t.seed, tok) & t.mask
		for t.slots[i].rank >= 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = rankSlot{off: uint32(off), n: uint32(len(tok)), rank: int32(r)}
	}
	return t
}

func (t *rankTable) get(p string) (int, bool) {
	for i := maphash.String(t.seed, p) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.rank < 0 {
			return 0, false
		}
		if int(s.n) == len(p) && string(t.arena[s.off:s.off+s.n]) == p {
			return int(s.rank), true
		}
	}
}
