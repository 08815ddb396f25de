package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is a postgres source's connection config: the value under
// sources.NAME.postgres.
type Conn struct {
	DSN              config.Secret   `yaml:"dsn" doc:"The connection string (postgres://user@host:5432/db?sslmode=verify-full, or host=… dbname=…), usually from env or file since it may hold the password; read again for each new connection, so a rotated password is picked up. Required."`
	MaxConnections   int             `yaml:"max_connections" default:"2" doc:"Connections ebb holds to the database at most: a scaler must not load what it watches."`
	StatementTimeout config.Duration `yaml:"statement_timeout" default:"5s" doc:"The server cancels a query running longer (SET LOCAL statement_timeout)."`
	config.Calls     `yaml:",inline"`
}

// Validate reports every problem with the connection config.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate()}
	switch {
	case !c.DSN.IsSet():
		errs = append(errs, config.Problem("dsn", "required"))
	default:
		errs = append(errs, config.Under("dsn", c.DSN.Validate()))
		if c.DSN.Value != "" {
			if _, err := pgconn.ParseConfig(c.DSN.Value); err != nil {
				// Not err's text: it may quote the password.
				errs = append(errs, config.Problem("dsn.value", "does not parse as a PostgreSQL connection string (postgres://user@host:5432/db or host=… dbname=…)"))
			}
		}
	}
	if c.MaxConnections < 1 || c.MaxConnections > 100 {
		errs = append(errs, config.Problem("max_connections", "must be 1 to 100, not %d", c.MaxConnections))
	}
	if c.StatementTimeout.D() <= 0 {
		errs = append(errs, config.Problem("statement_timeout", "must be > 0, not %s", c.StatementTimeout))
	}
	return errors.Join(errs...)
}

// Query is a postgres signal's config: the value under
// groups[].signals.NAME.postgres.
type Query struct {
	SQL       string `yaml:"sql" doc:"A read-only query (SELECT, WITH, VALUES or TABLE) returning one numeric column in one row; $1, if used, is the group's key. With key_column, one row per key instead, and no $1. Required."`
	KeyColumn string `yaml:"key_column" doc:"The column (text or integer) holding each row's key: one query then answers every group, each taking the row whose key is its own."`
	Key       string `yaml:"key" default:"'{{.Group}}'" doc:"The group's key, a template of {{.Group}}: the key_column value of its row, or $1."`
}

// Validate reports every problem with the signal config.
func (q *Query) Validate() error {
	var errs []error
	s := scan(q.SQL)
	switch {
	case strings.TrimSpace(q.SQL) == "":
		errs = append(errs, config.Problem("sql", "required"))
	case strings.Contains(q.SQL, "{{"):
		errs = append(errs, config.Problem("sql", "templates are not expanded in SQL (that would let a group's name inject SQL): write $1 for the group's key"))
	case s.first != "select" && s.first != "with" && s.first != "values" && s.first != "table":
		errs = append(errs, config.Problem("sql", "must be a query (SELECT, WITH, VALUES or TABLE), not %s", strings.ToUpper(s.first)))
	case q.KeyColumn != "" && s.params > 0:
		errs = append(errs, config.Problem("sql", "takes no parameters with key_column: one query answers every group, so there is no group to bind $%d to", s.params))
	case s.params > 1:
		errs = append(errs, config.Problem("sql", "has $%d: only $1 (the group's key) is given", s.params))
	}
	if err := keyProblem(q.Key); err != nil {
		errs = append(errs, config.Problem("key", "%v", err))
	}
	return errors.Join(errs...)
}

// Kind is the postgres source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("postgres",
		"A number a SQL query returns from PostgreSQL: one query per tick answers every group with key_column.",
		source.Named, open)
}

// keyProblem checks the key template: a postgres read is the group's.
func keyProblem(text string) error {
	if text == "" {
		return errors.New("required")
	}
	return source.GroupTemplate("key", text)
}
