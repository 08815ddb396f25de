package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a PostgreSQL 15 cluster of its own, with trust
// authentication on 127.0.0.1.
type PostgresServer struct {
	Addr string // 127.0.0.1:port
	*Proc
}

// DSN is a connection string for user postgres to database db.
func (s *PostgresServer) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr, db)
}

// Database makes an empty database named name (dropped first if a test
// left it) and returns its connection string.
func (s *PostgresServer) Database(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close(context.Background())
	for _, sql := range []string{"DROP DATABASE IF EXISTS %s WITH (FORCE)", "CREATE DATABASE %s"} {
		if _, err := admin.Exec(ctx, fmt.Sprintf(sql, pgx.Identifier{name}.Sanitize())); err != nil {
			return "", fmt.Errorf("database %s: %w", name, err)
		}
	}
	return s.DSN(name), nil
}

// Stop shuts the cluster down fast (SIGINT: sessions still open are ended,
// where SIGTERM would wait for them) and removes its directory.
func (s *PostgresServer) Stop() {
	_ = syscall.Kill(-s.PID(), syscall.SIGINT)
	s.Proc.Stop()
}

const pgBin = "/usr/lib/postgresql/15/bin/"

// Postgres starts a PostgreSQL cluster (initdb, then postgres) on a free
// port. PostgreSQL refuses to run as root: as root, the cluster belongs to
// user postgres and its commands run through runuser.
func Postgres() (*PostgresServer, error) {
	initdb, err := Binary(pgBin+"initdb", "postgresql")
	if err != nil {
		return nil, err
	}
	postgres, err := Binary(pgBin+"postgres", "postgresql")
	if err != nil {
		return nil, err
	}
	dir, err := Dir("postgres")
	if err != nil {
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	as := func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start postgres as root: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		as = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	if out, err := as(initdb, "-D", data, "--auth=trust", "--no-sync", "-U", "postgres").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := as(postgres, "-D", data, "-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-k", sock, "-c", "fsync=off", "-c", "full_page_writes=off")
	p, err := Start("postgres", dir, cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &PostgresServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), Proc: p}
	if err := p.Ready(30*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}
