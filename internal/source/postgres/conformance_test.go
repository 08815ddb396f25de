package postgres

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance gives each group v queued jobs in the jobs table; one
// query with key_column answers every group.
func TestConformance(t *testing.T) {
	dsn, db := database(t)
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn(dsn), nil) },
		Set: func(t *testing.T, group string, v float64) {
			exec(t, db, "DELETE FROM jobs WHERE queue = $1", group)
			exec(t, db, "INSERT INTO jobs (queue, state) SELECT $1, 'queued' FROM generate_series(1, $2::int)", group, int(v))
		},
		Query: func(string) any {
			return &Query{SQL: "SELECT queue, count(*) FROM jobs WHERE state = 'queued' GROUP BY queue", KeyColumn: "queue", Key: "{{.Group}}"}
		},
		Absent: sourcetest.NoValue, // no row for the group's key
	})
}
