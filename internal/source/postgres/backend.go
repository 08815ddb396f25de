package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// backend answers postgres reads through a small pool, opened at the first
// call (so the DSN is read then, not at load).
type backend struct {
	conn  *Conn
	begin string                // BEGIN READ ONLY and the statement timeout
	tune  func(*pgxpool.Config) // tests' hook on the pool's config

	mu     sync.Mutex
	pool   *pgxpool.Pool
	closed bool
	tmpl   source.Templates
	shapes map[string]shape
}

var _ source.Backend[Query] = (*backend)(nil)
var _ io.Closer = (*backend)(nil)

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	return openWith(c, nil), nil
}

// openWith is open with a hook that may change the pool's config before it
// is made (tests install a query tracer with it).
func openWith(c *Conn, tune func(*pgxpool.Config)) *backend {
	ms := max(1, c.StatementTimeout.D().Milliseconds())
	return &backend{
		conn:   c,
		begin:  "BEGIN READ ONLY; SET LOCAL statement_timeout = " + strconv.FormatInt(ms, 10),
		tune:   tune,
		shapes: map[string]shape{},
	}
}

// Plan: with key_column, every group reading the same SQL shares one call
// and asks for its key; without, a query with $1 is one call per key, and
// one without is a single call for all.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	q := r.Query
	if q.KeyColumn != "" {
		key, err := b.key(r)
		return "key\x00" + q.KeyColumn + "\x00" + q.SQL, key, err
	}
	if b.shape(q.SQL).params > 0 {
		key, err := b.key(r)
		return "param\x00" + key + "\x00" + q.SQL, "", err
	}
	return "one\x00" + q.SQL, "", nil
}

// Call runs one query in a read-only transaction, then rolls it back.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	q := reads[0].Query
	var args []any
	if q.KeyColumn == "" && b.shape(q.SQL).params > 0 {
		key, err := b.key(reads[0])
		if err != nil {
			return nil, err
		}
		args = []any{key}
	}
	res, err := b.run(ctx, q.SQL, args)
	if err != nil {
		return nil, err
	}
	if q.KeyColumn != "" {
		return res.byKey(reads, q.KeyColumn, b.key)
	}
	v, err := res.single()
	if err != nil {
		return nil, err
	}
	out := make([]source.Value, len(reads))
	for i := range out {
		out[i] = v
	}
	return out, nil
}

// result is what a query returned, every value decoded.
type result struct {
	cols  []pgconn.FieldDescription
	types *pgtype.Map
	rows  [][]any
}

func (b *backend) run(ctx context.Context, sql string, args []any) (*result, error) {
	pool, err := b.connect()
	if err != nil {
		return nil, err
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: b.begin})
	if err != nil {
		return nil, transient(fmt.Errorf("begin a read-only transaction: %w", err))
	}
	// Nothing is ever committed; a rollback with ctx done closes the
	// connection instead, which is as good.
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, transient(fmt.Errorf("query: %w", err))
	}
	defer rows.Close()
	res := &result{cols: rows.FieldDescriptions(), types: tx.Conn().TypeMap()}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("decode a row: %w", err)
		}
		res.rows = append(res.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, transient(fmt.Errorf("query: %w", err))
	}
	return res, nil
}

// single is the value of a query without key_column: one column, at most
// one row; no row or NULL is no value.
func (r *result) single() (source.Value, error) {
	if len(r.cols) != 1 {
		return source.Value{}, fmt.Errorf("query returns %d columns, not 1 (the value; with key_column, the key and the value)", len(r.cols))
	}
	switch len(r.rows) {
	case 0:
		return source.NoValue("query returned no row"), nil
	case 1:
	default:
		return source.Value{}, fmt.Errorf("query returns %d rows, not 1 (one row per group needs key_column)", len(r.rows))
	}
	v, null, err := r.number(0, r.rows[0][0])
	if err != nil {
		return source.Value{}, err
	}
	if null {
		return source.NoValue("query returned NULL"), nil
	}
	return source.Value{V: v}, nil
}

// byKey answers each read with the row whose key_column is its key.
func (r *result) byKey(reads []source.Read[Query], keyCol string, key func(source.Read[Query]) (string, error)) ([]source.Value, error) {
	ki := -1
	for i, c := range r.cols {
		if c.Name == keyCol {
			ki = i
		}
	}
	if ki < 0 {
		return nil, fmt.Errorf("query returns no column %q (key_column)", keyCol)
	}
	if len(r.cols) != 2 {
		return nil, fmt.Errorf("query returns %d columns, not 2 (%s and the value)", len(r.cols), keyCol)
	}
	vi := 1 - ki
	type row struct {
		v     float64
		null  bool
		count int
	}
	byKey := make(map[string]*row, len(r.rows))
	for _, vals := range r.rows {
		k, err := r.key(ki, vals[ki])
		if err != nil {
			return nil, err
		}
		if k == nil {
			continue // a NULL key is no group's
		}
		v, null, err := r.number(vi, vals[vi])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", *k, err)
		}
		if e := byKey[*k]; e != nil {
			e.count++
			continue
		}
		byKey[*k] = &row{v: v, null: null, count: 1}
	}
	out := make([]source.Value, len(reads))
	for i, rd := range reads {
		k, err := key(rd)
		if err != nil {
			out[i] = source.Value{Err: err}
			continue
		}
		e := byKey[k]
		switch {
		case e == nil:
			out[i] = source.NoValue("no row with %s = %q", keyCol, k)
		case e.count > 1:
			out[i] = source.Value{Err: fmt.Errorf("%d rows have %s = %q: the query must return one per key", e.count, keyCol, k)}
		case e.null:
			out[i] = source.NoValue("%s = %q has NULL", keyCol, k)
		default:
			out[i] = source.Value{V: e.v}
		}
	}
	return out, nil
}

// number reads column i's value as a float; null is true for NULL.
func (r *result) number(i int, v any) (float64, bool, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, true, nil
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case float32:
		f = float64(x)
	case float64:
		f = x
	case pgtype.Numeric:
		if !x.Valid {
			return 0, true, nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			return 0, false, fmt.Errorf("column %q is not a finite number", r.cols[i].Name)
		}
		n, err := x.Float64Value()
		if err != nil {
			return 0, false, fmt.Errorf("column %q: %w", r.cols[i].Name, err)
		}
		f = n.Float64
	default:
		return 0, false, fmt.Errorf("column %q is %s, not a number (smallint, integer, bigint, real, double precision or numeric)", r.cols[i].Name, r.typeName(i))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("column %q is %v, not a finite number", r.cols[i].Name, f)
	}
	return f, false, nil
}

// key reads the key column's value as text; nil for NULL.
func (r *result) key(i int, v any) (*string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = x
	case int16:
		s = strconv.FormatInt(int64(x), 10)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return nil, fmt.Errorf("key_column %q is %s: cast it to text in the query (%s::text)", r.cols[i].Name, r.typeName(i), r.cols[i].Name)
	}
	return &s, nil
}

func (r *result) typeName(i int) string {
	if t, ok := r.types.TypeForOID(r.cols[i].DataTypeOID); ok {
		return t.Name
	}
	return fmt.Sprintf("type %d", r.cols[i].DataTypeOID)
}

// connect returns the pool, making it at the first call.
func (b *backend) connect() (*pgxpool.Pool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("source is closed")
	}
	if b.pool != nil {
		return b.pool, nil
	}
	dsn, err := b.dsn()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, b.dsnError()
	}
	cfg.MaxConns, cfg.MinConns = int32(b.conn.MaxConnections), 0
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		// Without it a connection to a host that never answers waits
		// forever in the pool's background, holding one of few slots.
		cc.ConnectTimeout = b.conn.Timeout.D()
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "ebb"
	}
	// Each new connection reads the DSN again, for a rotated password.
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		dsn, err := b.dsn()
		if err != nil {
			return err
		}
		fresh, err := pgconn.ParseConfig(dsn)
		if err != nil {
			return b.dsnError()
		}
		cc.Password = fresh.Password
		return nil
	}
	if b.tune != nil {
		b.tune(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open a pool: %w", err)
	}
	b.pool = pool
	return pool, nil
}

func (b *backend) dsn() (string, error) {
	dsn, err := b.conn.DSN.Reveal()
	if err != nil {
		return "", fmt.Errorf("dsn (%s): %w", b.conn.DSN, err)
	}
	return dsn, nil
}

// dsnError says the DSN does not parse without quoting it or the parser's
// message, either of which may carry the password.
func (b *backend) dsnError() error {
	return fmt.Errorf("dsn (%s) does not parse as a PostgreSQL connection string", b.conn.DSN)
}

// Close closes the pool's connections.
func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.pool != nil {
		b.pool.Close()
		b.pool = nil
	}
	return nil
}

// key renders r's key template.
func (b *backend) key(r source.Read[Query]) (string, error) {
	k, err := b.tmpl.Render(r.Query.Key, r.Group, nil)
	if err != nil {
		return "", fmt.Errorf("key: %w", err)
	}
	return k, nil
}

// shape scans sql once per text.
func (b *backend) shape(sql string) shape {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.shapes[sql]
	if !ok {
		s = scan(sql)
		b.shapes[sql] = s
	}
	return s
}

// transient marks the errors a later attempt may not meet: the server
// restarting, out of connections, a serialization failure or deadlock, a
// query canceled by statement_timeout, a connection lost or never made.
// Authentication, permission, syntax and read-only errors are permanent.
func transient(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300", "40001", "40P01", "57014":
			return source.Retryable(err)
		}
		if len(pe.Code) == 5 && pe.Code[:2] == "08" { // connection exception
			return source.Retryable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) {
		return source.Retryable(err)
	}
	return err
}
