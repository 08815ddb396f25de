package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Campaign blocks until this replica leads, or ctx ends. Meanwhile, as a
// follower, it keeps the local copy current and records who leads; every
// tick (a fifth of the lease, at most 1s) it tries to take a lease that
// has run out or been given up. Once it leads, the local copy holds every
// change the last leader committed, and the lease is renewed until
// Resign, Close or its loss (Lost).
//
// A file store leads at once: it has no one to share with.
func (s *Store) Campaign(ctx context.Context) error {
	r := s.repl
	if r == nil {
		return nil
	}
	every := min(r.opt.Lease/5, time.Second)
	for {
		ok, err := r.try(ctx, s)
		if ok {
			go r.renew(s)
			return nil
		}
		if err != nil && ctx.Err() == nil && r.opt.Log != nil {
			// The database is away or the copy could not follow; keep
			// trying: as a follower it changes nothing.
			r.opt.Log.Warn("following the leader", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// try follows the log, reads the lease and takes it if it is free.
func (r *replica) try(ctx context.Context, s *Store) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.lost:
		return false, errors.New("this replica lost the lead: it does not campaign again")
	default:
	}
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	if err := r.catchUp(cctx, s.db); err != nil {
		return false, err
	}
	start := time.Now()
	var l Leader
	var epoch int64
	err := r.pool.QueryRow(cctx, `UPDATE ebb_leader
		SET holder = $1, addr = $2, epoch = epoch + 1, since = now(), expires = now() + make_interval(secs => $3)
		WHERE id = 1 AND expires < now()
		RETURNING holder, addr, epoch, since`, r.opt.ID, r.opt.Addr, r.opt.Lease.Seconds()).Scan(&l.ID, &l.Addr, &epoch, &l.Since)
	if errors.Is(err, pgx.ErrNoRows) {
		var expired bool
		err := r.pool.QueryRow(cctx, `SELECT holder, addr, epoch, since, expires < now() FROM ebb_leader WHERE id = 1`).
			Scan(&l.ID, &l.Addr, &epoch, &l.Since, &expired)
		if err != nil {
			return false, fmt.Errorf("read the lease from %s: %w", r.where, err)
		}
		l.Epoch, l.Expired = uint64(epoch), expired
		r.setLeader(l)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take the lease in %s: %w", r.where, err)
	}
	// Taking the lease raised the epoch, which waited for any write of the
	// last leader's still in flight and refuses those after: the log is
	// final up to here.
	if err := r.catchUp(cctx, s.db); err != nil {
		// Lead with a copy that may lack a change: never. Give the lease
		// back so another replica takes it.
		r.pool.Exec(cctx, `UPDATE ebb_leader SET holder = '', expires = '-infinity' WHERE id = 1 AND epoch = $1`, epoch)
		return false, err
	}
	l.Epoch, l.Self = uint64(epoch), true
	r.epoch = uint64(epoch)
	r.setValid(start.Add(r.opt.Lease))
	r.setLeader(l)
	return true, nil
}

// renew keeps the lease every third of its length until it is lost or
// given up.
func (r *replica) renew(s *Store) {
	every := r.opt.Lease / 3
	for {
		select {
		case <-r.lost:
			return
		case <-time.After(every):
		}
		r.mu.Lock()
		if r.epoch == 0 {
			r.mu.Unlock()
			return
		}
		epoch := r.epoch
		r.mu.Unlock()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), min(r.opt.Timeout, every))
		tag, err := r.pool.Exec(ctx, `UPDATE ebb_leader SET expires = now() + make_interval(secs => $2) WHERE id = 1 AND epoch = $1`,
			int64(epoch), r.opt.Lease.Seconds())
		cancel()
		r.mu.Lock()
		switch {
		case err == nil && tag.RowsAffected() == 1:
			if r.epoch == epoch {
				r.setValid(start.Add(r.opt.Lease))
			}
		case err == nil:
			r.fence() // someone else holds it
		case !time.Now().Before(r.valid):
			r.fence() // could not renew in time: it may be someone else's
		}
		r.mu.Unlock()
	}
}

// Leader returns who leads, as this replica last read it. For a file
// store it is this process.
func (s *Store) Leader() Leader {
	if s.repl == nil {
		return Leader{Self: true}
	}
	s.repl.lmu.Lock()
	defer s.repl.lmu.Unlock()
	return s.repl.leader
}

func (r *replica) setLeader(l Leader) {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.leader = l
}

// Lost is closed when a replica that led has lost the lead: its lease
// could not be renewed in time or another replica took over. A file store
// never loses it.
func (s *Store) Lost() <-chan struct{} {
	if s.repl == nil {
		return nil
	}
	return s.repl.lost
}

// Leading is nil when this process may act: a file store, or a replica
// that leads with a lease certainly still its own. It takes no lock and
// asks no one, so it is called before every provider action: a leader
// paused past its lease (a stopped process, a long GC pause) that wakes up
// sends nothing, even before its renewal finds it was replaced.
func (s *Store) Leading() error {
	r := s.repl
	if r == nil {
		return nil
	}
	select {
	case <-r.lost:
		return fmt.Errorf("%w (lost the lead)", ErrNotLeader)
	default:
	}
	if v := r.deadline.Load(); v == nil || !time.Now().Before(*v) {
		return fmt.Errorf("%w, or its lease may have run out", ErrNotLeader)
	}
	return nil
}

// setValid records until when the lease is this replica's; r.mu held.
func (r *replica) setValid(t time.Time) {
	r.valid = t
	r.deadline.Store(&t)
}

// Replicated reports whether the store is shared with other replicas.
func (s *Store) Replicated() bool { return s.repl != nil }

// Resign gives the lease up, so another replica takes over without
// waiting for it to run out. Writes are refused from then on.
func (r *replica) resign() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch == 0 {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	r.pool.Exec(ctx, `UPDATE ebb_leader SET holder = '', expires = '-infinity' WHERE id = 1 AND epoch = $1`, int64(r.epoch))
	r.fence()
}
