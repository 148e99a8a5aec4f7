package agentmode

import (
	"strings"

	"github.com/earshot-dev/earshot/transcribe"
)

// paragraphPause is the pause after a sentence that starts a new paragraph
// in clean mode (when the words are timed).
const paragraphPause = 2.0

// removal is one entry of "removed", anchored at the first kept word after
// it, so that each page carries the removals among its own words.
type removal struct {
	json   removedJSON
	anchor pos
}

// textPager pages clean and agent output of an edited transcript.
func textPager(in input, d *doc, opts Options) pager {
	var units [][]int
	if opts.Mode == Agent {
		units = d.intents()
	} else {
		units = d.paragraphs(in.timing != "")
	}
	where := make(map[int]pos, len(d.words))
	for u, ws := range units {
		for w, i := range ws {
			where[i] = pos{u, w}
		}
	}
	end := pos{len(units), 0}
	// Removals, in input order; consecutive words of one edit are one entry.
	var rems []removal
	for i := 0; i < len(d.words); {
		if d.removed[i] == "" {
			i++
			continue
		}
		j := i + 1
		for j < len(d.words) && d.removed[j] != "" && d.group[j] == d.group[i] {
			j++
		}
		r := removal{json: removedJSON{Kind: d.removed[i], Text: joinWords(d.orig[i:j]), Confidence: *prob(d.conf[d.group[i]])}, anchor: end}
		if d.orig[i].timed {
			r.json.Start, r.json.End = seconds(d.orig[i].start), seconds(d.orig[j-1].end)
		}
		for k := j; k < len(d.words); k++ {
			if at, ok := where[k]; ok {
				r.anchor = at
				break
			}
		}
		rems = append(rems, r)
		i = j
	}
	wordsIn := func(u int) int { return len(units[u]) }
	levels := []string{"removed"}
	if opts.Words && in.timing != "" {
		levels = append(levels, "words")
	}
	build := func(from, to pos, level int, t tail) any {
		h := in.head(opts.Mode, opts, level > len(levels)+1)
		var removed *[]removedJSON
		if level < 1 {
			list := []removedJSON{}
			for _, r := range rems {
				if !r.anchor.less(from) && (r.anchor.less(to) || !to.less(end)) {
					list = append(list, r.json)
				}
			}
			removed = &list
		}
		withWords := opts.Words && in.timing != "" && level < 2
		var texts []string
		if opts.Mode == Agent {
			out := agentJSON{Intents: []intentJSON{}, Removed: removed, tail: t}
			unitsOf(from, to, len(units), wordsIn, func(u, lo, hi int) {
				ws := d.pick(units[u][lo:hi])
				it := intentJSON{Kind: d.kindOf(units[u]), Text: joinWords(ws)}
				if level <= len(levels)+1 {
					it.Start, it.End, it.Confidence = timing(ws)
					if p, ok := d.boundaries[units[u][0]]; ok && lo == 0 {
						it.Boundary = prob(p)
					}
				}
				if withWords {
					it.Words = wordDetail(ws)
				}
				texts = append(texts, it.Text)
				out.Intents = append(out.Intents, it)
			})
			if level <= len(levels) {
				text := strings.Join(texts, " ")
				h.Text = &text
			}
			out.head = h
			return out
		}
		out := cleanJSON{Paragraphs: []paragraphJSON{}, Removed: removed, tail: t}
		unitsOf(from, to, len(units), wordsIn, func(u, lo, hi int) {
			ws := d.pick(units[u][lo:hi])
			p := paragraphJSON{Text: joinWords(ws)}
			if level <= len(levels)+1 {
				p.Start, p.End, _ = timing(ws)
			}
			if withWords {
				p.Words = wordDetail(ws)
			}
			texts = append(texts, p.Text)
			out.Paragraphs = append(out.Paragraphs, p)
		})
		if level <= len(levels) {
			text := strings.Join(texts, "\n\n")
			h.Text = &text
		}
		out.head = h
		return out
	}
	prefix := "a"
	if opts.Mode == Clean {
		prefix = "c"
	}
	return pager{prefix: prefix, units: len(units), wordsIn: wordsIn, levels: levels, build: build}
}

// pick returns the words at indexes idx.
func (d *doc) pick(idx []int) []word {
	ws := make([]word, len(idx))
	for i, j := range idx {
		ws[i] = d.words[j]
	}
	return ws
}

// timing is the start and end of words and their mean probability, each
// nil when unknown.
func timing(ws []word) (start, end, confidence *float64) {
	if len(ws) == 0 {
		return nil, nil, nil
	}
	if ws[0].timed {
		start, end = seconds(ws[0].start), seconds(ws[len(ws)-1].end)
	}
	if ws[0].probed {
		sum := 0.0
		for _, w := range ws {
			sum += w.prob
		}
		confidence = prob(sum / float64(len(ws)))
	}
	return start, end, confidence
}

func wordDetail(ws []word) []wordJSON {
	out := make([]wordJSON, len(ws))
	for i, w := range ws {
		out[i] = wordJSON{Word: w.text()}
		if w.timed {
			out[i].Start, out[i].End = seconds(w.start), seconds(w.end)
		}
		if w.probed {
			out[i].P = prob(w.prob)
		}
	}
	return out
}

// paragraphs groups the kept words' sentences into paragraphs: at a blank
// line of the input text, or after a sentence followed by a pause of
// paragraphPause seconds or more (timed words).
func (d *doc) paragraphs(timed bool) [][]int {
	var out [][]int
	var cur []int
	ss := d.sentences()
	for n, s := range ss {
		if len(cur) > 0 && (d.words[s[0]].para || d.anyPara(ss[n-1][len(ss[n-1])-1], s[0])) {
			out = append(out, cur)
			cur = nil
		} else if len(cur) > 0 && timed {
			prev := d.words[cur[len(cur)-1]]
			if d.words[s[0]].start-prev.end >= paragraphPause {
				out = append(out, cur)
				cur = nil
			}
		}
		cur = append(cur, s...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// anyPara reports whether a paragraph of the input started between two
// kept words (on a word removed since).
func (d *doc) anyPara(a, b int) bool {
	for i := a + 1; i <= b; i++ {
		if d.words[i].para {
			return true
		}
	}
	return false
}

// rawPager pages a transcription as whisper made it, a segment per unit.
func rawPager(in input, opts Options) pager {
	res := in.res
	segs := res.Segments
	segWords := make([][]string, len(segs))
	for i, s := range segs {
		segWords[i] = strings.Fields(s.Text)
	}
	wordsIn := func(u int) int { return len(segWords[u]) }
	wordsOf := segmentWords(res)
	build := func(from, to pos, level int, t tail) any {
		out := rawJSON{
			head:         in.head(Raw, opts, level > 3),
			LanguageProb: res.LanguageProb,
			Segments:     []rawSegment{},
			Timings:      res.Timings,
			tail:         t,
		}
		var text strings.Builder
		unitsOf(from, to, len(segs), wordsIn, func(u, lo, hi int) {
			s := segs[u]
			rs := rawSegment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text,
				AvgLogprob: s.AvgLogprob, NoSpeechProb: s.NoSpeechProb, Temperature: s.Temperature, Repetition: s.Repetition}
			if lo > 0 || hi < len(segWords[u]) {
				rs.Text = " " + strings.Join(segWords[u][lo:hi], " ")
			} else if level < 1 {
				rs.Tokens = s.Tokens
			}
			if level < 2 && len(res.Words) > 0 && lo == 0 && hi == len(segWords[u]) {
				out.Words = append(out.Words, wordsOf[u]...)
			}
			text.WriteString(rs.Text)
			out.Segments = append(out.Segments, rs)
		})
		if level <= 2 {
			t := strings.TrimSpace(text.String())
			out.Text = &t
		}
		speechFacts(&out, res, level)
		return out
	}
	return pager{prefix: "r", units: len(segs), wordsIn: wordsIn, levels: []string{"tokens", "words"}, build: build}
}

// speechFacts adds what voice activity detection found to a raw page: the
// detector always, the regions and dropped segments while the budget has
// room for detail (level 0), and an empty region list whenever there was
// no speech at all, since that is why the page is empty.
func speechFacts(out *rawJSON, res *transcribe.Result, level int) {
	out.VAD, out.Chunks = res.VAD, res.Chunks
	if res.VAD == "" {
		return
	}
	if len(res.Speech) == 0 {
		out.Speech = &[]rawSpan{}
		return
	}
	if level > 0 {
		return
	}
	spans := make([]rawSpan, len(res.Speech))
	for i, sp := range res.Speech {
		spans[i] = rawSpan{Start: sp.Start.Seconds(), End: sp.End.Seconds()}
	}
	out.Speech = &spans
	for _, d := range res.Dropped {
		out.Dropped = append(out.Dropped, rawDropped{Start: d.Segment.Start, End: d.Segment.End, Text: d.Segment.Text, Reason: d.Reason})
	}
	out.DroppedKeywords = res.DroppedKeywords
}

// segmentWords hands out the result's own words (whisper's, or those of an
// OpenAI verbose_json transcript) to the segments they were said in: the
// one whose span holds the word's middle, else the last that starts
// before it.
func segmentWords(res *transcribe.Result) [][]transcribe.Word {
	out := make([][]transcribe.Word, len(res.Segments))
	if len(res.Segments) == 0 {
		return out
	}
	u := 0
	for _, w := range res.Words {
		mid := (w.Start + w.End) / 2
		for u+1 < len(res.Segments) && res.Segments[u+1].Start <= mid && mid >= res.Segments[u].End {
			u++
		}
		out[u] = append(out[u], w)
	}
	return out
}
