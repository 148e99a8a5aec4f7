package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// pieceArgs is one piece of a job to transcribe.
type pieceArgs struct {
	JobID string `json:"job_id"`
	Piece int    `json:"piece"`
}

func (pieceArgs) Kind() string { return "earshot_piece" }
func (pieceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queuePieces, MaxAttempts: 8}
}

type pieceWorker struct {
	river.WorkerDefaults[pieceArgs]
	s *Service
}

// jobState is what a worker reads of its job.
type jobState struct {
	status Status
	who    pipeline.Principal
	req    stored
	plan   pipeline.Plan
	pieces int
	hook   string
}

func (s *Service) state(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (*jobState, error) {
	var (
		st                jobState
		who, req, planRaw []byte
	)
	err := q.QueryRow(ctx, s.t.sql(`SELECT status, principal, request, plan, pieces, webhook_url FROM {job} WHERE id = $1`), id).
		Scan(&st.status, &who, &req, &planRaw, &st.pieces, &st.hook)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(who, &st.who); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(req, &st.req); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(planRaw, &st.plan); err != nil {
		return nil, err
	}
	return &st, nil
}

// final reports a status after which nothing is worked.
func final(st Status) bool { return st != Queued && st != Running }

func (w *pieceWorker) Work(ctx context.Context, job *river.Job[pieceArgs]) error {
	s, id, n := w.s, job.Args.JobID, job.Args.Piece
	st, err := s.state(ctx, s.cfg.Pool, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && final(st.status)) {
		return nil // cancelled, failed or expired: nothing to do
	}
	if err != nil {
		return err
	}
	var (
		offset int64
		speech []byte
		sealed []byte
	)
	err = s.cfg.Pool.QueryRow(ctx, s.t.sql(`SELECT offset_ns, speech, sealed FROM {audio} WHERE job_id = $1 AND piece = $2`), id, n).
		Scan(&offset, &speech, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		// Done already by an earlier attempt that stored its result; make
		// sure the stitch is on its way.
		return s.count(ctx, id)
	}
	if err != nil {
		return err
	}
	pc := pipeline.Piece{Offset: time.Duration(offset)}
	if len(speech) > 0 {
		if err := json.Unmarshal(speech, &pc.Speech); err != nil {
			return err
		}
		if pc.Speech == nil {
			pc.Speech = []transcribe.Speech{}
		}
	}
	if pc.Samples, err = s.seal.open(sealed, aad(id, n)); err != nil {
		return w.giveUp(ctx, id, pipeline.Errorf(pipeline.Internal, "sealed_audio", "%s", err.Error()))
	}
	if _, err := s.cfg.Pool.Exec(ctx, s.t.sql(`UPDATE {job} SET status = 'running' WHERE id = $1 AND status = 'queued'`), id); err != nil {
		return err
	}
	start := time.Now()
	res, err := s.cfg.Pipeline.TranscribePiece(pipeline.WithPrincipal(ctx, st.who), st.req.request(id), pc)
	took := time.Since(start)
	if err != nil {
		e := pipeline.Classify(err)
		if retryable(e) || ctx.Err() != nil {
			return err
		}
		return w.giveUp(ctx, id, e)
	}
	resJSON, err := json.Marshal(res)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if err := s.lock(ctx, tx, id); err != nil {
			return err
		}
		// The first stored result of a piece is the one: a retry that
		// raced an attempt thought dead changes nothing.
		if _, err := tx.Exec(ctx, s.t.sql(`INSERT INTO {piece} (job_id, piece, result, took_ms) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`), id, n, resJSON, took.Milliseconds()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.t.sql(`DELETE FROM {audio} WHERE job_id = $1 AND piece = $2`), id, n); err != nil {
			return err
		}
		return s.countTx(ctx, tx, id)
	})
	if isForeignKey(err) {
		return nil // the job was deleted meanwhile (expired)
	}
	if err == nil {
		s.counters.piecesDone.Add(1)
		s.counters.decodeNs.Add(int64(took))
	}
	return err
}

// giveUp fails the job over its piece (see Service.giveUp), counting the
// piece failed once the job is.
func (w *pieceWorker) giveUp(ctx context.Context, id string, e *pipeline.Error) error {
	err := w.s.giveUp(ctx, id, e)
	var cancel *rivertype.JobCancelError
	if errors.As(err, &cancel) {
		w.s.counters.piecesFailed.Add(1)
	}
	return err
}

// count updates the job's count of finished pieces and enqueues the
// stitch when they are all done.
func (s *Service) count(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if err := s.lock(ctx, tx, id); err != nil {
			return err
		}
		return s.countTx(ctx, tx, id)
	})
}

// lock takes the job's row for the transaction. Pieces finishing at once
// count one after the other: each count is a statement begun after the
// others' commits, so the last one sees every piece (counting under the
// UPDATE's own lock wait would not: its snapshot predates the wait).
func (s *Service) lock(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, s.t.sql(`SELECT 1 FROM {job} WHERE id = $1 FOR UPDATE`), id)
	return err
}

// countTx counts, under the job's lock (see lock).
func (s *Service) countTx(ctx context.Context, tx pgx.Tx, id string) error {
	var done, pieces int
	err := tx.QueryRow(ctx, s.t.sql(`UPDATE {job} SET done = (SELECT count(*) FROM {piece} WHERE job_id = $1)
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING done, pieces`), id).Scan(&done, &pieces)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil || done < pieces {
		return err
	}
	_, err = s.client.InsertTx(ctx, tx, stitchArgs{JobID: id}, nil)
	return err
}

// retryable are the failures that another attempt may not meet: a busy or
// failing engine, a store that is down.
func retryable(e *pipeline.Error) bool {
	switch e.Kind {
	case pipeline.EngineFailed, pipeline.Unavailable, pipeline.RateLimited, pipeline.Cancelled, pipeline.Internal:
		return true
	}
	return false
}

// giveUp fails the job with e and tells River not to retry the step.
func (s *Service) giveUp(ctx context.Context, id string, e *pipeline.Error) error {
	if err := s.fail(ctx, id, e); err != nil {
		return err
	}
	return river.JobCancel(e)
}

// fail ends the job with e, unless it has ended already.
func (s *Service) fail(ctx context.Context, id string, e *pipeline.Error) error {
	s.cfg.Logger.Warn("job failed", "job", id, "kind", e.Kind.String(), "error", e.Message)
	var hook string
	return pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.t.sql(`SELECT webhook_url FROM {job} WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE`), id).Scan(&hook); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		if err := s.finish(ctx, tx, id, Failed, nil, nil, e); err != nil {
			return err
		}
		return s.notify(ctx, tx, id, hook)
	})
}

// stitchArgs joins a job's pieces.
type stitchArgs struct {
	JobID string `json:"job_id"`
}

func (stitchArgs) Kind() string { return "earshot_stitch" }
func (stitchArgs) InsertOpts() river.InsertOpts {
	// Two last pieces finishing at once enqueue one stitch.
	return river.InsertOpts{Queue: queueStitch, MaxAttempts: 8, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type stitchWorker struct {
	river.WorkerDefaults[stitchArgs]
	s *Service
}

func (w *stitchWorker) Work(ctx context.Context, job *river.Job[stitchArgs]) error {
	s, id := w.s, job.Args.JobID
	st, err := s.state(ctx, s.cfg.Pool, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && final(st.status)) {
		return nil
	}
	if err != nil {
		return err
	}
	rows, err := s.cfg.Pool.Query(ctx, s.t.sql(`SELECT result, took_ms FROM {piece} WHERE job_id = $1 ORDER BY piece`), id)
	if err != nil {
		return err
	}
	var (
		results []*transcribe.Result
		took    time.Duration
	)
	for rows.Next() {
		var (
			raw []byte
			ms  int64
		)
		if err := rows.Scan(&raw, &ms); err != nil {
			rows.Close()
			return err
		}
		r := new(transcribe.Result)
		if err := json.Unmarshal(raw, r); err != nil {
			rows.Close()
			return err
		}
		results, took = append(results, r), took+time.Duration(ms)*time.Millisecond
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(results) != st.pieces {
		return fmt.Errorf("jobs: job %s has %d of its %d pieces", id, len(results), st.pieces)
	}
	// Usage is recorded for the job's id: a stitch run twice records it
	// once.
	out, err := s.cfg.Pipeline.Stitch(pipeline.WithPrincipal(ctx, st.who), st.req.request(id), &st.plan, results, took)
	if err != nil {
		return s.giveUp(ctx, id, pipeline.Classify(err))
	}
	var output []byte
	if out.Output != nil {
		output = out.Output.JSON
	}
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if err := s.finish(ctx, tx, id, Succeeded, out.Result, output, nil); err != nil {
			return err
		}
		return s.notify(ctx, tx, id, st.hook)
	})
	if err == nil {
		s.cfg.Logger.Info("job done", "job", id, "pieces", st.pieces, "audio_s", out.Result.Duration)
	}
	return err
}

// expireArgs is the periodic sweep of expired jobs.
type expireArgs struct{}

func (expireArgs) Kind() string { return "earshot_expire" }
func (expireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueStitch, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	s *Service
}

func (w *expireWorker) Work(ctx context.Context, _ *river.Job[expireArgs]) error {
	n, err := w.s.expire(ctx)
	if n > 0 {
		w.s.cfg.Logger.Info("expired jobs deleted", "jobs", n)
	}
	return err
}

// errorHandler fails a job whose piece or stitch has used its last
// attempt, so that its caller is told and its audio is deleted.
type errorHandler struct{ s *Service }

func (h errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Kind == (pieceArgs{}).Kind() {
		h.s.counters.pieceFailed(job.Attempt >= job.MaxAttempts, err)
	}
	h.exhausted(ctx, job, pipeline.Classify(err))
	return nil
}

func (h errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, v any, _ string) *river.ErrorHandlerResult {
	h.s.cfg.Logger.Error("job step panicked", "kind", job.Kind, "panic", v)
	if job.Kind == (pieceArgs{}).Kind() {
		h.s.counters.pieceFailed(job.Attempt >= job.MaxAttempts, nil)
	}
	h.exhausted(ctx, job, pipeline.Errorf(pipeline.Internal, "internal_error", "Internal server error."))
	return nil
}

func (h errorHandler) exhausted(ctx context.Context, job *rivertype.JobRow, e *pipeline.Error) {
	if job.Attempt < job.MaxAttempts || (job.Kind != (pieceArgs{}).Kind() && job.Kind != (stitchArgs{}).Kind()) {
		return
	}
	var a struct {
		JobID string `json:"job_id"`
	}
	if json.Unmarshal(job.EncodedArgs, &a) != nil || a.JobID == "" {
		return
	}
	if err := h.s.fail(context.WithoutCancel(ctx), a.JobID, e); err != nil {
		h.s.cfg.Logger.Error("failing a job failed", "job", a.JobID, "error", err)
	}
}
