package repair

import "strconv"

// FNV-1a, 64 bit, hashes each part of a feature name; the parts' hashes
// are then mixed in order. Word parts are hashed once per sentence
// (prepare), so scoring a candidate costs a few multiplications per
// feature. A name hashes the same in training and at run time.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// part is one part of a feature name with its hash.
type part struct {
	s string
	h uint64
}

func lit(s string) part { return part{s, hashString(s)} }

func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}

// nameHash is the hash of a feature written out as "kind|part|part".
func nameHash(name string) uint64 {
	h := uint64(fnvOffset)
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '|' {
			h = mix(h, hashString(name[start:i]))
			start = i + 1
		}
	}
	return h
}

// featureSink receives the hashes of a candidate's features.
type featureSink struct {
	emit func(uint64)
	// name, when set, receives each feature's name too (training).
	name func(uint64, string)
}

func (f featureSink) add(parts ...part) {
	h := uint64(fnvOffset)
	for _, p := range parts {
		h = mix(h, p.h)
	}
	f.emit(h)
	if f.name != nil {
		n := ""
		for i, p := range parts {
			if i > 0 {
				n += "|"
			}
			n += p.s
		}
		f.name(h, n)
	}
}

var (
	kSameclsIkAny                         = lit("samecls-ik-any")
	kMirror                               = lit("mirror")
	kLmTriJoin                            = lit("lm-tri-join")
	kLmTriJoinNext                        = lit("lm-tri-join-next")
	kMirrorLen                            = lit("mirror-len")
	kMirrorEnd                            = lit("mirror-end")
	kPronoun                              = lit("pronoun")
	kCueEdges                             = lit("cue-edges")
	kArticle                              = lit("article")
	kArticleWl                            = lit("article-wl")
	kArticleCk                            = lit("article-ck")
	kArticleLm                            = lit("article-lm")
	kArticleStart                         = lit("article-start")
	kArticleWp                            = lit("article-wp")
	kPronounWk                            = lit("pronoun-wk")
	kShare                                = lit("share")
	shares                                = []part{lit("<25%"), lit("<50%"), lit("<75%"), lit(">=75%")}
	lAll, lHalf, lSome                    = lit("all"), lit("half"), lit("some")
	kAfter                                = lit("after")
	kBias                                 = lit("bias")
	kCapIk                                = lit("cap-ik")
	kCi                                   = lit("ci")
	kCiCk                                 = lit("ci-ck")
	kCiCkLen                              = lit("ci-ck-len")
	kCk                                   = lit("ck")
	kCkCk1                                = lit("ck-ck1")
	kClCk                                 = lit("cl-ck")
	kCommaBefore                          = lit("comma-before")
	kCommaCue                             = lit("comma-cue")
	kCp                                   = lit("cp")
	kCpCi                                 = lit("cp-ci")
	kCpCk                                 = lit("cp-ck")
	kCpWk                                 = lit("cp-wk")
	kCue                                  = lit("cue")
	kCuefirst                             = lit("cuefirst")
	kCuelast                              = lit("cuelast")
	kCuelastCiCk                          = lit("cuelast-ci-ck")
	kCuelastCk                            = lit("cuelast-ck")
	kCuelastLen                           = lit("cuelast-len")
	kCuelastStart                         = lit("cuelast-start")
	kLen                                  = lit("len")
	kLmBreak                              = lit("lm-break")
	kLmJoin                               = lit("lm-join")
	kLmJoinBreak                          = lit("lm-join-break")
	kLmJoinGtBreak                        = lit("lm-join-gt-break")
	kNearest                              = lit("nearest")
	kOverlap                              = lit("overlap")
	kSameIk                               = lit("same-ik")
	kSameIkLen                            = lit("same-ik-len")
	kSameLk                               = lit("same-lk")
	kSameclsIk                            = lit("samecls-ik")
	kSameclsLk                            = lit("samecls-lk")
	kStart                                = lit("start")
	kStartCiCk                            = lit("start-ci-ck")
	kStartCk                              = lit("start-ck")
	kStartWk                              = lit("start-wk")
	kStrengthParallel                     = lit("strength-parallel")
	kWi                                   = lit("wi")
	kWiWk                                 = lit("wi-wk")
	kWk                                   = lit("wk")
	kWkEarlier                            = lit("wk-earlier")
	kWkInside                             = lit("wk-inside")
	kWk1                                  = lit("wk1")
	kWp                                   = lit("wp")
	kWpCk                                 = lit("wp-ck")
	kWpWi                                 = lit("wp-wi")
	kWpWk                                 = lit("wp-wk")
	lNone, lHere, lBefore, lAfter, lStart = lit("none"), lit("here"), lit("before"), lit("after"), lit("<s>")
)

var buckets = func() []part {
	var out []part
	for n := 0; n <= 5; n++ {
		out = append(out, lit(strconv.Itoa(n)))
	}
	return append(out, lit("6-7"), lit("8-10"), lit("11+"))
}()

func bucket(n int) part {
	switch {
	case n <= 5:
		return buckets[max(n, 0)]
	case n <= 7:
		return buckets[6]
	case n <= 10:
		return buckets[7]
	}
	return buckets[8]
}

var yes, no = lit("y"), lit("n")

func flag(b bool) part {
	if b {
		return yes
	}
	return no
}

// features describes candidate e. Every name's first part says what it is.
func features(words []Word, e Edit, run cueRun, lm bigrams, emit func(uint64)) {
	featuresNamed(words, e, run, lm, featureSink{emit: emit})
}

var countBuckets = []part{lit("0"), lit("1"), lit("2-4"), lit("5-19"), lit("20+")}

// countBucket buckets a bigram count.
func countBucket(n int) part {
	switch {
	case n <= 0:
		return countBuckets[0]
	case n == 1:
		return countBuckets[1]
	case n < 5:
		return countBuckets[2]
	case n < 20:
		return countBuckets[3]
	}
	return countBuckets[4]
}

func featuresNamed(words []Word, e Edit, run cueRun, lm bigrams, f featureSink) {
	runFeatures(words, e, run, lm, f)
	startFeatures(words, e, run, lm, f)
}

// runFeatures are the features that depend only on the run of editing
// terms and the repair, the same for every start of the reparandum: Find
// works them out once per run.
func runFeatures(words []Word, e Edit, run cueRun, lm bigrams, f featureSink) {
	last := lit(run.last)
	c, k := e.Cue, e.End
	wl, wk := words[c-1], words[k]
	cl, ck := classP(wl), classP(wk)
	f.add(kBias)
	f.add(kCue, lit(run.text))
	f.add(kCuefirst, lit(run.first))
	f.add(kCuelast, last)
	f.add(kWk, lowerP(wk))
	f.add(kCk, ck)
	f.add(kClCk, cl, ck)

	f.add(kSameLk, flag(lowerP(wl) == lowerP(wk)))
	f.add(kSameclsLk, flag(cl.h == ck.h), ck)
	f.add(kCuelastCk, last, ck)
	f.add(kCommaCue, flag(wl.Comma))
	if k+1 < len(words) {
		f.add(kWk1, lowerP(words[k+1]))
		f.add(kCkCk1, ck, classP(words[k+1]))
	}
	f.add(kAfter, bucket(len(words)-k))
	// Are the editing terms ordinary words here? How often fluent text
	// has the pairs at their edges ("has no", "no longer").
	f.add(kCueEdges, countBucket(lm.count(ngramKeyH(normH(wl), normH(words[c])))),
		countBucket(lm.count(ngramKeyH(normH(words[k-1]), normH(wk)))))
	if run.article {
		f.add(kArticle, last)
		f.add(kArticleWl, lowerP(wl))
		f.add(kArticleCk, ck)
	}
	if run.pronoun {
		f.add(kPronoun, last)
		f.add(kPronounWk, lowerP(wk))
	}

}

// startFeatures are the features that depend on where the reparandum starts.
func startFeatures(words []Word, e Edit, run cueRun, lm bigrams, f featureSink) {
	last := run.lastP
	i, c, k := e.Start, e.Cue, e.End
	wi, wk := words[i], words[k]
	ci, ck := classP(wi), classP(wk)
	n := c - i
	start := i == 0

	f.add(kStrengthParallel, strengths[run.strength], flag(parallel(words, e)))
	// What share of the sentence the edit would take: a long removal
	// needs more evidence than a two-word fix.
	f.add(kShare, shares[min(4*n/len(words), 3)], flag(start))
	f.add(kLen, bucket(n))
	f.add(kStart, flag(start), bucket(n))
	f.add(kCuelastStart, last, flag(start))
	f.add(kCuelastLen, last, bucket(n))

	f.add(kWi, lowerP(wi))
	f.add(kCi, ci)
	f.add(kCiCk, ci, ck)
	f.add(kSameIk, flag(lowerP(wi) == lowerP(wk)))
	f.add(kSameclsIk, flag(ci.h == ck.h), ck)
	f.add(kSameclsIkAny, flag(ci.h == ck.h))
	f.add(kCapIk, flag(wi.Cap), flag(wk.Cap))
	f.add(kCuelastCiCk, last, ci, ck)
	f.add(kStartCk, flag(start), ck)
	f.add(kStartWk, flag(start), lowerP(wk))
	f.add(kSameIkLen, flag(lowerP(wi) == lowerP(wk)), bucket(n))
	f.add(kCiCkLen, ci, ck, bucket(n))
	f.add(kWiWk, lowerP(wi), lowerP(wk))
	f.add(kStartCiCk, flag(start), ci, ck)
	// Is the reparandum's start the nearest word before the editing terms
	// that is of the repair's first word's class?
	nearest := -1
	for j := c - 1; j >= 0; j-- {
		if classP(words[j]).h == ck.h {
			nearest = j
			break
		}
	}
	switch {
	case nearest < 0:
		f.add(kNearest, lNone)
	case nearest == i:
		f.add(kNearest, lHere, ck)
	case nearest < i:
		f.add(kNearest, lBefore, ck)
	default:
		f.add(kNearest, lAfter, ck)
	}

	// How fluent the join is, and what the deletion breaks: counts of the
	// word pairs in fluent text.
	prev := sentenceStartH
	if !start {
		prev = normH(words[i-1])
	}
	join, brk := lm.count(ngramKeyH(prev, normH(wk))), lm.count(ngramKeyH(prev, normH(wi)))
	// The same one word further out on each side.
	prev2 := sentenceStartH
	if i >= 2 {
		prev2 = normH(words[i-2])
	}
	if i >= 1 {
		f.add(kLmTriJoin, countBucket(lm.count(ngramKeyH(prev2, prev, normH(wk)))))
	}
	if k+1 < len(words) {
		f.add(kLmTriJoinNext, countBucket(lm.count(ngramKeyH(prev, normH(wk), normH(words[k+1])))))
	}
	if run.article {
		// Dropping the repair's article: does the sentence read on with
		// it ("of the Yuan armies") or without ("was Kublai Khan's")? Did
		// the reparandum start with one?
		art := words[k-1]
		f.add(kArticleLm, countBucket(lm.count(ngramKeyH(prev, normH(art)))), countBucket(join))
		f.add(kArticleStart, flag(article(wi.Lower)), flag(wk.Cap))
		if start {
			f.add(kArticleWp, lowerP(art), lStart)
		} else {
			f.add(kArticleWp, lowerP(art), classP(words[i-1]))
		}
	}
	f.add(kLmJoin, countBucket(join))
	f.add(kLmBreak, countBucket(brk))
	f.add(kLmJoinBreak, countBucket(join), countBucket(brk))
	f.add(kLmJoinGtBreak, flag(join > brk), flag(join == brk))
	if start {
		f.add(kWp, lStart)
		f.add(kCpCk, lStart, ck)
	} else {
		wp := words[i-1]
		cp := classP(wp)
		f.add(kWp, lowerP(wp))
		f.add(kCp, cp)
		f.add(kCpCk, cp, ck)
		f.add(kCpCi, cp, ci)
		f.add(kWpWk, lowerP(wp), lowerP(wk))
		f.add(kWpCk, lowerP(wp), ck)
		f.add(kCpWk, cp, lowerP(wk))
		f.add(kWpWi, lowerP(wp), lowerP(wi))
		f.add(kCommaBefore, flag(wp.Comma))
		// Is there an earlier word like the repair's first? Then the
		// reparandum may start there instead.
		for j := i - 1; j >= 0; j-- {
			if words[j].Lower == wk.Lower {
				f.add(kWkEarlier, bucket(i-j))
				break
			}
		}
	}
	// Is the repair's first word inside the reparandum after its start?
	for j := i + 1; j < c; j++ {
		if words[j].Lower == wk.Lower {
			f.add(kWkInside, bucket(j-i))
			break
		}
	}
	// How many words the repair repeats from the reparandum's start.
	overlap := 0
	for overlap < n && k+overlap < len(words) && words[i+overlap].Lower == words[k+overlap].Lower {
		overlap++
	}
	f.add(kOverlap, bucket(min(overlap, 3)))
	// How closely the repair mirrors the reparandum, position by position:
	// "the name, no, the title" matches word for word in class.
	same, total := 0, 0
	for j := 0; j < n && k+j < len(words); j++ {
		total++
		if classP(words[i+j]).h == classP(words[k+j]).h {
			same++
		}
	}
	mirror := lNone
	switch {
	case total == 0:
	case same == total:
		mirror = lAll
	case 2*same >= total:
		mirror = lHalf
	case same > 0:
		mirror = lSome
	}
	f.add(kMirror, mirror)
	f.add(kMirrorLen, mirror, bucket(n))
	// Does the repair end its mirrored span where the reparandum ends?
	if k+n-1 < len(words) {
		f.add(kMirrorEnd, flag(classP(words[c-1]).h == classP(words[k+n-1]).h))
	}
}

var strengths = []part{lit("0"), lit("1"), lit("2"), lit("3")}

// lowerP and classP are a word's lower-case form and class as name parts.
func lowerP(w Word) part {
	if w.prepared {
		return part{w.Lower, w.lowerH}
	}
	return lit(w.Lower)
}

func classP(w Word) part {
	if w.prepared {
		return part{w.cls, w.clsH}
	}
	return lit(classOf(w))
}

var sentenceStartH = hashString("<s>")

// normH is the hash of a word's Norm form.
func normH(w Word) uint64 {
	if w.prepared {
		return w.normH
	}
	return hashString(normOf(w))
}
