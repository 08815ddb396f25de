// Package postgres is the postgres source kind: a number a SQL query
// returns from PostgreSQL, such as the jobs waiting in a queue table.
//
// A query is run as written, never templated: the group's key reaches it as
// the parameter $1, so a group's name cannot inject SQL. With key_column,
// the query returns one row per key and a single query per tick answers
// every group reading it, whatever their number; without, a query with $1
// costs one call per group and one without is shared by all.
//
// Each call runs in a READ ONLY transaction with SET LOCAL
// statement_timeout, and is rolled back: the database refuses writes even
// from a query that tries (a data-modifying WITH, a function that writes).
// The pool holds max_connections connections at most (2 by default), made
// at the first call, each reading the DSN again so a rotated password
// in its file is used.
//
//	sources:
//	  jobs_db:
//	    postgres:
//	      dsn: {env: JOBS_DB_DSN}   # postgres://ebb@db:5432/jobs?sslmode=verify-full
//	      max_connections: 2
//	      statement_timeout: 2s
//	groups:
//	  - name: render
//	    signals:
//	      queued:
//	        source: jobs_db
//	        postgres:
//	          sql: SELECT queue, count(*) FROM jobs WHERE state = 'queued' GROUP BY queue
//	          key_column: queue   # this group's row is queue = 'render'
//
// A value is a smallint, integer, bigint, real, double precision or numeric
// column; NULL, no row or no row for the key is no value. Connection
// failures, the server shutting down or out of connections, serialization
// failures, deadlocks and statement timeouts are retried; authentication,
// permission, syntax and read-only errors are not.
package postgres
