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
	if r.opt.Elector != nil {
		return r.campaignElected(ctx, s)
	}
	every := min(r.opt.Lease/5, time.Second)
	for {
		ok, err := r.try(ctx, s, takeExpired, nil)
		if ok {
			go r.renew(s)
			return nil
		}
		r.warn(ctx, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// warn logs a failure to follow: the database is away or the copy could
// not follow. Campaigns keep trying; as a follower, a replica changes
// nothing.
func (r *replica) warn(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil && r.opt.Log != nil {
		r.opt.Log.Warn("following the leader", "err", err)
	}
}

// Elector elects the leader by other means than the database's lease row
// (a Kubernetes Lease). The database still fences: a replica the elector
// makes leader raises the epoch there, so a deposed leader's writes are
// refused whatever the elector's own guarantees.
type Elector interface {
	// Elect blocks until this replica leads, or ctx ends.
	Elect(ctx context.Context) (Term, error)
}

// Term is a replica's time as leader under an Elector.
type Term interface {
	// Lost is closed once the lead is lost.
	Lost() <-chan struct{}
	// Valid reports, without a call, whether the lead is certainly still
	// this replica's: false once it may have run out.
	Valid() bool
	// Resign gives the lead up.
	Resign()
}

// campaignElected follows until the Elector makes this replica leader,
// then takes the database's fence.
func (r *replica) campaignElected(ctx context.Context, s *Store) error {
	type won struct {
		term Term
		err  error
	}
	result := make(chan won, 1)
	go func() {
		t, err := r.opt.Elector.Elect(ctx)
		result <- won{t, err}
	}()
	every := min(r.opt.Lease/5, time.Second)
	for {
		select {
		case w := <-result:
			if w.err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("elect the leader: %w", w.err)
			}
			if _, err := r.try(ctx, s, takeNow, w.term); err != nil {
				w.term.Resign()
				return err
			}
			go func() {
				select {
				case <-w.term.Lost():
					r.fence()
				case <-r.lost:
				}
			}()
			return nil
		case <-time.After(every):
			_, err := r.try(ctx, s, followOnly, nil)
			r.warn(ctx, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// How try treats the lease row.
type takeMode int

const (
	followOnly  takeMode = iota // read who leads
	takeExpired                 // take the lease if it ran out or was given up
	takeNow                     // an Elector chose this replica: take it
)

// try follows the log, reads the lease and, as mode says, takes it.
// term is the Elector's, with takeNow.
func (r *replica) try(ctx context.Context, s *Store, mode takeMode, term Term) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.lost:
		return false, errors.New("this replica lost the lead: it does not campaign again")
	default:
	}
	if err := r.catchUp(ctx, s.db); err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	start := time.Now()
	var l Leader
	var epoch int64
	err := pgx.ErrNoRows
	switch mode {
	case takeExpired:
		err = r.pool.QueryRow(cctx, `UPDATE ebb_leader
			SET holder = $1, addr = $2, epoch = epoch + 1, since = now(), expires = now() + make_interval(secs => $3)
			WHERE id = 1 AND expires < now()
			RETURNING holder, addr, epoch, since`, r.opt.ID, r.opt.Addr, r.opt.Lease.Seconds()).Scan(&l.ID, &l.Addr, &epoch, &l.Since)
	case takeNow:
		// The Elector's lease is the one that runs out: the row's never does.
		err = r.pool.QueryRow(cctx, `UPDATE ebb_leader
			SET holder = $1, addr = $2, epoch = epoch + 1, since = now(), expires = 'infinity'
			WHERE id = 1
			RETURNING holder, addr, epoch, since`, r.opt.ID, r.opt.Addr).Scan(&l.ID, &l.Addr, &epoch, &l.Since)
	}
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
	if err := r.catchUp(ctx, s.db); err != nil {
		// Lead with a copy that may lack a change: never. Give the lease
		// back so another replica takes it.
		gctx, gcancel := r.ctx()
		defer gcancel()
		r.pool.Exec(gctx, `UPDATE ebb_leader SET holder = '', expires = '-infinity' WHERE id = 1 AND epoch = $1`, epoch)
		return false, err
	}
	l.Epoch, l.Self = uint64(epoch), true
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.epoch, r.leader = uint64(epoch), l
	if term != nil {
		r.term = term
		r.termOf.Store(&term)
		r.setValid(time.Now().Add(100 * 365 * 24 * time.Hour)) // the term says
	} else {
		r.setValid(start.Add(r.opt.Lease))
	}
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
		epoch := r.currentEpoch()
		if epoch == 0 {
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), min(r.opt.Timeout, every))
		kept, err := r.extend(ctx, epoch)
		cancel()
		r.lmu.Lock()
		renewed, expired := err == nil && kept, !time.Now().Before(r.valid)
		if renewed && r.epoch == epoch {
			r.setValid(start.Add(r.opt.Lease))
		}
		r.lmu.Unlock()
		switch {
		case renewed:
		case err == nil:
			r.fence() // someone else holds it
		case expired:
			r.fence() // could not renew in time: it may be someone else's
		}
	}
}

// extend renews the lease of term epoch, and reports whether it is still
// this replica's. A lease given up (resign) is not this replica's any
// more, though its epoch has not moved: a renewal that was on its way
// when the replica resigned must not take it back, or the next replica
// would wait a whole lease for a leader that is gone.
func (r *replica) extend(ctx context.Context, epoch uint64) (bool, error) {
	tag, err := r.pool.Exec(ctx, `UPDATE ebb_leader SET expires = now() + make_interval(secs => $2)
		WHERE id = 1 AND epoch = $1 AND holder = $3`, int64(epoch), r.opt.Lease.Seconds(), r.opt.ID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
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
	if t := r.termOf.Load(); t != nil && !(*t).Valid() {
		return fmt.Errorf("%w: its term may have run out", ErrNotLeader)
	}
	return nil
}

// setValid records until when the lease is this replica's; r.lmu held.
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
	epoch := r.currentEpoch()
	if epoch == 0 {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	r.pool.Exec(ctx, `UPDATE ebb_leader SET holder = '', expires = '-infinity' WHERE id = 1 AND epoch = $1`, int64(epoch))
	r.lmu.Lock()
	term := r.term
	r.lmu.Unlock()
	if term != nil {
		term.Resign()
	}
	r.fence()
}
