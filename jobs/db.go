package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// tables are the qualified names of earshot's job tables.
type tables struct{ job, audio, piece string }

func newTables(schema string) tables {
	q := func(name string) string {
		if schema == "" {
			return pgx.Identifier{name}.Sanitize()
		}
		return pgx.Identifier{schema, name}.Sanitize()
	}
	return tables{job: q("earshot_job"), audio: q("earshot_job_audio"), piece: q("earshot_job_piece")}
}

// sql fills a query's {job}, {audio} and {piece}.
func (t tables) sql(q string) string {
	return strings.NewReplacer("{job}", t.job, "{audio}", t.audio, "{piece}", t.piece).Replace(q)
}

// migrationLock is the advisory lock replicas take while migrating: the
// store's ("ears") plus one.
const migrationLock = 0x65617274

const schemaSQL = `
CREATE TABLE IF NOT EXISTS {job} (
	id              TEXT PRIMARY KEY,
	key_id          TEXT NOT NULL,
	principal       JSONB NOT NULL,
	idempotency_key TEXT,
	status          TEXT NOT NULL,
	request         JSONB NOT NULL,
	plan            JSONB NOT NULL,
	pieces          INT NOT NULL,
	done            INT NOT NULL DEFAULT 0,
	result          JSONB,
	output          BYTEA,
	error           JSONB,
	webhook_url     TEXT NOT NULL DEFAULT '',
	meta            JSONB,
	took_ms         BIGINT NOT NULL DEFAULT 0,
	created_at      TIMESTAMPTZ NOT NULL,
	finished_at     TIMESTAMPTZ,
	expires_at      TIMESTAMPTZ,
	UNIQUE (key_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS earshot_job_key_created ON {job} (key_id, created_at DESC);
CREATE INDEX IF NOT EXISTS earshot_job_expires ON {job} (expires_at);
-- For /metrics: jobs by status from the index alone, the unfinished ones
-- found at once. done, which each piece updates, stays out of it.
CREATE INDEX IF NOT EXISTS earshot_job_status ON {job} (status, created_at) INCLUDE (expires_at);
CREATE TABLE IF NOT EXISTS {audio} (
	job_id    TEXT NOT NULL REFERENCES {job} (id) ON DELETE CASCADE,
	piece     INT NOT NULL,
	offset_ns BIGINT NOT NULL,
	speech    JSONB,
	sealed    BYTEA NOT NULL,
	river_id  BIGINT,
	PRIMARY KEY (job_id, piece)
);
CREATE TABLE IF NOT EXISTS {piece} (
	job_id  TEXT NOT NULL REFERENCES {job} (id) ON DELETE CASCADE,
	piece   INT NOT NULL,
	result  JSONB NOT NULL,
	took_ms BIGINT NOT NULL,
	PRIMARY KEY (job_id, piece)
);`

// migrate brings River's tables and earshot's up to date, one replica at
// a time.
func (s *Service) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(s.cfg.Pool), &rivermigrate.Config{Schema: s.cfg.Schema, Logger: s.cfg.Logger})
	if err != nil {
		return err
	}
	// River's migrations each run in their own transaction (some add enum
	// values, which the transaction adding them cannot use); a session
	// lock on one connection keeps replicas from migrating at once.
	conn, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs: migrating: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrationLock)); err != nil {
		return fmt.Errorf("jobs: migrating: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrationLock))
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrating River's tables: %w", err)
	}
	if _, err := conn.Exec(ctx, s.t.sql(schemaSQL)); err != nil {
		return fmt.Errorf("jobs: migrating: %w", err)
	}
	return nil
}

var errDuplicate = errors.New("jobs: idempotency key used already")

// insert stores a planned job, its sealed pieces and their River jobs in
// one transaction.
func (s *Service) insert(ctx context.Context, id string, who pipeline.Principal, sub Submission, st stored, plan *pipeline.Plan) (*Job, error) {
	now := s.cfg.Now().UTC()
	var idem *string
	if sub.IdempotencyKey != "" {
		idem = &sub.IdempotencyKey
	}
	whoJSON, _ := json.Marshal(who)
	reqJSON, _ := json.Marshal(st)
	planJSON, _ := json.Marshal(plan)
	metaJSON, _ := json.Marshal(sub.Meta)
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if idem != nil { // an expired job frees its key before the sweep deletes it
			if _, err := tx.Exec(ctx, s.t.sql(`DELETE FROM {job} WHERE key_id = $1 AND idempotency_key = $2 AND expires_at <= $3`),
				who.KeyID, idem, now); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, s.t.sql(`INSERT INTO {job} (id, key_id, principal, idempotency_key, status, request, plan, pieces,
			webhook_url, meta, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (key_id, idempotency_key) DO NOTHING`),
			id, who.KeyID, whoJSON, idem, Queued, reqJSON, planJSON, len(plan.Pieces), sub.WebhookURL, metaJSON, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDuplicate
		}
		if len(plan.Pieces) == 0 { // no speech: straight to the stitch
			_, err := s.client.InsertTx(ctx, tx, stitchArgs{JobID: id}, nil)
			return err
		}
		params := make([]river.InsertManyParams, len(plan.Pieces))
		for i := range plan.Pieces {
			params[i] = river.InsertManyParams{Args: pieceArgs{JobID: id, Piece: i}}
		}
		res, err := s.client.InsertManyTx(ctx, tx, params)
		if err != nil {
			return err
		}
		for i, pc := range plan.Pieces {
			var speech []byte
			if pc.Speech != nil {
				speech, _ = json.Marshal(pc.Speech)
			}
			if _, err := tx.Exec(ctx, s.t.sql(`INSERT INTO {audio} (job_id, piece, offset_ns, speech, sealed, river_id)
				VALUES ($1, $2, $3, $4, $5, $6)`), id, i, int64(pc.Offset), speech, s.seal.seal(pc.Samples, aad(id, i)), res[i].Job.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Job{ID: id, Object: "transcription.job", Status: Queued, Pieces: len(plan.Pieces), Duration: plan.Duration,
		CreatedAt: now, WebhookURL: sub.WebhookURL, Meta: sub.Meta}, nil
}

// aad binds sealed audio to its job and piece.
func aad(id string, piece int) string { return fmt.Sprintf("earshot job %s piece %d", id, piece) }

const jobColumns = `id, status, pieces, done, plan, created_at, finished_at, expires_at, webhook_url, meta, result, output, error`

func (s *Service) scan(row pgx.Row) (*Job, error) {
	var (
		j                   Job
		plan, meta, res, ee []byte
	)
	if err := row.Scan(&j.ID, &j.Status, &j.Pieces, &j.Done, &plan, &j.CreatedAt, &j.FinishedAt, &j.ExpiresAt, &j.WebhookURL,
		&meta, &res, &j.Output, &ee); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	j.Object = "transcription.job"
	var pl pipeline.Plan
	if err := json.Unmarshal(plan, &pl); err != nil {
		return nil, err
	}
	j.Duration = pl.Duration
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &j.Meta); err != nil {
			return nil, err
		}
	}
	if len(res) > 0 {
		j.Result = new(transcribe.Result)
		if err := json.Unmarshal(res, j.Result); err != nil {
			return nil, err
		}
	}
	if len(ee) > 0 {
		var se storedError
		if err := json.Unmarshal(ee, &se); err != nil {
			return nil, err
		}
		j.Error = &pipeline.Error{Kind: se.Kind, Code: se.Code, Param: se.Param, Message: se.Message}
	}
	switch {
	case j.Status == Succeeded:
		j.Progress = 100
	case j.Pieces > 0:
		j.Progress = float64(int(1000*float64(j.Done)/float64(j.Pieces))) / 10
	}
	return &j, nil
}

// live is the condition of a job that has not expired.
const live = `(expires_at IS NULL OR expires_at > $%d)`

func (s *Service) get(ctx context.Context, keyID, id string) (*Job, error) {
	j, err := s.scan(s.cfg.Pool.QueryRow(ctx, s.t.sql(`SELECT `+jobColumns+` FROM {job} WHERE id = $1 AND key_id = $2 AND `+fmt.Sprintf(live, 3)),
		id, keyID, s.cfg.Now()))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, unavailable(err)
	}
	return j, err
}

func (s *Service) byIdempotencyKey(ctx context.Context, keyID, key string) (*Job, error) {
	j, err := s.scan(s.cfg.Pool.QueryRow(ctx, s.t.sql(`SELECT `+jobColumns+` FROM {job} WHERE key_id = $1 AND idempotency_key = $2 AND `+fmt.Sprintf(live, 3)),
		keyID, key, s.cfg.Now()))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			err = unavailable(err)
		}
		return nil, err
	}
	j.Replayed = true
	return j, nil
}

func (s *Service) list(ctx context.Context, keyID string, limit int, before string) ([]*Job, error) {
	q := `SELECT ` + jobColumns + ` FROM {job} WHERE key_id = $1 AND ` + fmt.Sprintf(live, 2)
	args := []any{keyID, s.cfg.Now()}
	if before != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM {job} WHERE id = $3 AND key_id = $1)`
		args = append(args, before)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit)
	rows, err := s.cfg.Pool.Query(ctx, s.t.sql(q), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out := []*Job{}
	for rows.Next() {
		j, err := s.scan(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// cancel marks the caller's unfinished job cancelled and deletes its
// audio, returning the River jobs of the pieces not yet done.
func (s *Service) cancel(ctx context.Context, keyID, id string) ([]int64, error) {
	var riverIDs []int64
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, s.t.sql(`SELECT status FROM {job} WHERE id = $1 AND key_id = $2 AND `+fmt.Sprintf(live, 3)+` FOR UPDATE`),
			id, keyID, s.cfg.Now()).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || (status != Queued && status != Running) {
			return err
		}
		rows, err := tx.Query(ctx, s.t.sql(`DELETE FROM {audio} WHERE job_id = $1 RETURNING river_id`), id)
		if err != nil {
			return err
		}
		if riverIDs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		return s.finish(ctx, tx, id, Cancelled, nil, nil, &pipeline.Error{Kind: pipeline.Cancelled, Code: "job_cancelled", Message: "The job was cancelled."})
	})
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			err = unavailable(err)
		}
		return nil, err
	}
	return riverIDs, nil
}

// finish ends an unfinished job: its status, result or error, its expiry;
// the pieces' results are dropped, the job's own result is what is kept.
func (s *Service) finish(ctx context.Context, tx pgx.Tx, id string, status Status, result *transcribe.Result, output []byte, e *pipeline.Error) error {
	now := s.cfg.Now().UTC()
	var res, ee []byte
	if result != nil {
		res, _ = json.Marshal(result)
	}
	if e != nil {
		ee, _ = json.Marshal(storedError{Kind: e.Kind, Code: e.Code, Param: e.Param, Message: e.Message})
	}
	if _, err := tx.Exec(ctx, s.t.sql(`UPDATE {job} SET status = $2, result = $3, output = $4, error = $5, finished_at = $6, expires_at = $7
		WHERE id = $1 AND status IN ('queued', 'running')`), id, status, res, output, ee, now, now.Add(s.cfg.TTL)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.t.sql(`DELETE FROM {audio} WHERE job_id = $1`), id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, s.t.sql(`DELETE FROM {piece} WHERE job_id = $1`), id)
	return err
}

// expire deletes the jobs whose results have expired (their audio and
// pieces go with them).
func (s *Service) expire(ctx context.Context) (int64, error) {
	tag, err := s.cfg.Pool.Exec(ctx, s.t.sql(`DELETE FROM {job} WHERE expires_at <= $1`), s.cfg.Now())
	return tag.RowsAffected(), err
}
