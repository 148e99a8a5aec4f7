// Command earshot-loadtest puts a real earshot serve under load: it starts
// the binary on loopback with a synthetic model and a key store of its own,
// runs many concurrent clients for a bounded time, and checks what an
// operator relies on: no 5xx at all, every refusal a 429 with Retry-After,
// usage that counts exactly the accepted requests, and memory and
// goroutines that stay flat (read from the server's own /metrics at the
// start, middle and end, and after the load).
//
// Two keys share the load: most clients use a key limited in concurrency
// (to a little less than the server's workers plus queue), a few a key
// limited to 60 requests a minute, so that the engine's queue and both of
// the store's limits refuse requests.
//
//	go run ./cmd/earshot-loadtest -earshot bin/earshot -duration 2m
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

func main() {
	var c config
	flag.StringVar(&c.earshot, "earshot", "bin/earshot", "the earshot binary to serve")
	flag.DurationVar(&c.duration, "duration", 2*time.Minute, "how long the clients send requests")
	flag.IntVar(&c.clients, "clients", 64, "concurrent clients")
	flag.IntVar(&c.limited, "rate-limited-clients", 8, "of the clients, how many use the key limited to 60 rpm")
	flag.StringVar(&c.size, "size", "test", "synthetic model size: test (very small: the load is on the server, not whisper) or tiny (costs what whisper tiny costs)")
	flag.StringVar(&c.audio, "audio", "testdata/audio/jfk.wav", "audio file each request uploads")
	flag.IntVar(&c.workers, "workers", 2, "earshot serve --workers")
	flag.IntVar(&c.threads, "threads", 1, "earshot serve --threads")
	flag.IntVar(&c.queue, "queue", 8, "earshot serve --queue")
	flag.IntVar(&c.keyConcurrency, "key-concurrency", 0, "concurrency limit of the main clients' key (default workers+queue-2, so that both the key's limit and the queue refuse requests)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "earshot-loadtest:", err)
		os.Exit(1)
	}
}

type config struct {
	earshot, size, audio    string
	duration                time.Duration
	clients, limited        int
	keyConcurrency          int
	workers, threads, queue int
}

// sample is the server's memory and goroutines at one moment.
type sample struct {
	at         string
	rss        float64 // bytes
	goroutines float64
}

// outcome is one request's answer.
type outcome struct {
	status     int
	code       string
	retryAfter string
	took       time.Duration
	err        error
}

func run(c config) error {
	if c.limited >= c.clients {
		return errors.New("-rate-limited-clients must be fewer than -clients")
	}
	audio, err := os.ReadFile(c.audio)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "earshot-loadtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(os.Environ(), "EARSHOT_HOME="+filepath.Join(dir, "home"), "EARSHOT_API_KEY=", "EARSHOT_STORE=")
	model := filepath.Join(dir, "synthetic-"+c.size+".bin")
	if _, err := earshot(c.earshot, env, "models", "synth", "--size", c.size, "--out", model); err != nil {
		return err
	}
	if c.keyConcurrency <= 0 {
		c.keyConcurrency = max(1, c.workers+c.queue-2)
	}
	mainKey, err := earshot(c.earshot, env, "keys", "create", "--name", "load", "--concurrency", strconv.Itoa(c.keyConcurrency))
	if err != nil {
		return err
	}
	limitedKey, err := earshot(c.earshot, env, "keys", "create", "--name", "load-60rpm", "--rpm", "60")
	if err != nil {
		return err
	}
	adminKey, err := earshot(c.earshot, env, "keys", "create", "--name", "load-admin", "--scope", "admin")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog bytes.Buffer
	srv := exec.CommandContext(ctx, c.earshot, "serve", "--addr", addr, "--model", model, "--no-pull",
		"--workers", strconv.Itoa(c.workers), "--threads", strconv.Itoa(c.threads), "--queue", strconv.Itoa(c.queue), "--mcp=false")
	srv.Env, srv.Stderr = env, &serverLog
	srv.Cancel = func() error { return srv.Process.Signal(os.Interrupt) }
	srv.WaitDelay = 30 * time.Second
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Wait()
	base := "http://" + addr
	if err := waitReady(base, 30*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, serverLog.String())
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}}
	// Warm up, one request per worker: each worker makes its whisper state
	// on its first request, which is memory the start sample should hold.
	warm := make([]outcome, c.workers)
	var wwg sync.WaitGroup
	for i := range warm {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			warm[i] = post(client, base, mainKey, audio)
		}()
	}
	wwg.Wait()
	for _, o := range warm {
		if o.status != 200 {
			return fmt.Errorf("warm-up request: %d %s %v\n%s", o.status, o.code, o.err, serverLog.String())
		}
	}
	var samples []sample
	s, err := metrics(client, base, "start")
	if err != nil {
		return err
	}
	samples = append(samples, s)

	fmt.Printf("earshot load test: %d clients (%d on a key limited to %d at once, %d on a 60 rpm key) for %v against earshot serve on %s\n",
		c.clients, c.clients-c.limited, c.keyConcurrency, c.limited, c.duration, addr)
	fmt.Printf("synthetic %s model (random weights), %s (%d bytes) per request, --workers %d --threads %d --queue %d, SQLite store\n\n",
		c.size, filepath.Base(c.audio), len(audio), c.workers, c.threads, c.queue)
	start := time.Now()
	deadline := start.Add(c.duration)
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	for i := range c.clients {
		key := mainKey
		if i < c.limited {
			key = limitedKey
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				o := post(client, base, key, audio)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if o.status == 429 { // a polite client waits as told
					ra, _ := strconv.Atoi(o.retryAfter)
					wait := time.Duration(max(ra, 1)) * time.Second
					time.Sleep(min(wait, time.Until(deadline)))
				}
			}
		}()
	}
	time.Sleep(c.duration / 2)
	if s, err := metrics(client, base, "middle"); err == nil {
		samples = append(samples, s)
	}
	time.Sleep(time.Until(deadline.Add(-time.Second)))
	if s, err := metrics(client, base, "end"); err == nil {
		samples = append(samples, s)
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(5 * time.Second) // idle: keep-alive connections and finished requests let go
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	if s, err := metrics(client, base, "after, idle"); err == nil {
		samples = append(samples, s)
	}
	usage, err := usageRequests(client, base, adminKey)
	if err != nil {
		return err
	}
	failures := report(outcomes, samples, c.duration, elapsed, usage-int64(len(warm)))
	cancel()
	srv.Wait()
	if failures != "" {
		return errors.New(failures)
	}
	return nil
}

// earshot runs an earshot command and returns its stdout's last line.
func earshot(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("earshot %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

func waitReady(base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("earshot serve did not become ready")
}

func post(client *http.Client, base, key string, audio []byte) outcome {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("model", "whisper-1")
	w.WriteField("language", "en")
	fw, _ := w.CreateFormFile("file", "audio.wav")
	fw.Write(audio)
	w.Close()
	req, _ := http.NewRequest("POST", base+"/v1/audio/transcriptions", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start)}
	if resp.StatusCode != 200 {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(body, &e)
		o.code = e.Error.Code
	}
	return o
}

// metrics reads the server's RSS and goroutines from its /metrics.
func metrics(client *http.Client, base, at string) (sample, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	s := sample{at: at, rss: math.NaN(), goroutines: math.NaN()}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.rss = f
		case "go_goroutines":
			s.goroutines = f
		}
	}
	return s, sc.Err()
}

// usageRequests is the requests the store counted today, every key.
func usageRequests(client *http.Client, base, adminKey string) (int64, error) {
	req, _ := http.NewRequest("GET", base+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var u struct {
		Total struct {
			Requests int64 `json:"requests"`
		} `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET /v1/usage: %d %v", resp.StatusCode, err)
	}
	return u.Total.Requests, nil
}

// report prints the figures and returns what failed ("" when nothing).
func report(outcomes []outcome, samples []sample, sending, elapsed time.Duration, usage int64) string {
	var ok, fivexx, other, noRetry, transport int
	byCode := map[string]int{}
	var okTimes, allTimes []time.Duration
	for _, o := range outcomes {
		allTimes = append(allTimes, o.took)
		switch {
		case o.err != nil:
			transport++
		case o.status/100 == 2:
			ok++
			okTimes = append(okTimes, o.took)
		case o.status == 429:
			byCode[o.code]++
			if o.retryAfter == "" {
				noRetry++
			}
		case o.status >= 500:
			fivexx++
		default:
			other++
		}
	}
	var codes []string
	for k, n := range byCode {
		codes = append(codes, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(codes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "requests\t%d sent for %.0f s, the last answered at %.1f s (%.1f/s)\n", len(outcomes), sending.Seconds(), elapsed.Seconds(), float64(len(outcomes))/elapsed.Seconds())
	fmt.Fprintf(tw, "200\t%d (%.2f/s)\n", ok, float64(ok)/elapsed.Seconds())
	fmt.Fprintf(tw, "429\t%d (%s); without Retry-After: %d\n", len(outcomes)-ok-fivexx-other-transport, strings.Join(codes, ", "), noRetry)
	fmt.Fprintf(tw, "5xx\t%d\n", fivexx)
	fmt.Fprintf(tw, "other status / transport errors\t%d / %d\n", other, transport)
	fmt.Fprintf(tw, "latency of 200s\tp50 %s  p99 %s  max %s\n", pct(okTimes, 50), pct(okTimes, 99), pct(okTimes, 100))
	fmt.Fprintf(tw, "latency of every answer\tp50 %s  p99 %s\n", pct(allTimes, 50), pct(allTimes, 99))
	fmt.Fprintf(tw, "usage counted by the store\t%d requests (accepted: %d; warm-up not counted here)\n", usage, ok)
	tw.Flush()
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tRSS MB\tgoroutines\t")
	for _, s := range samples {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t\n", s.at, s.rss/1e6, s.goroutines)
	}
	tw.Flush()

	var fails []string
	if fivexx > 0 {
		fails = append(fails, fmt.Sprintf("%d answers were 5xx", fivexx))
	}
	if other > 0 || transport > 0 {
		fails = append(fails, fmt.Sprintf("%d answers were neither 2xx nor 429, %d failed in transport", other, transport))
	}
	if noRetry > 0 {
		fails = append(fails, fmt.Sprintf("%d 429s had no Retry-After", noRetry))
	}
	if ok == 0 {
		fails = append(fails, "no request was accepted")
	}
	if usage != int64(ok) {
		fails = append(fails, fmt.Sprintf("the store counted %d requests, not the %d accepted", usage, ok))
	}
	return strings.Join(fails, "; ")
}

func pct(ds []time.Duration, p float64) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return fmt.Sprintf("%.3f s", s[max(0, min(i, len(s)-1))].Seconds())
}
