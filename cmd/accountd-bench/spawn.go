package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// spawned is a throwaway accountd started by --spawn.
type spawned struct {
	addr string
	pid  int
	cmd  *exec.Cmd
	dir  string
	drop func()
}

// spawnServer sets up a fresh data folder (and, for mysql, a fresh
// database) with a random admin password and starts `accountd serve`,
// pinned with taskset to the CPU list cpus when it is not empty.
func spawnServer(ctx context.Context, bin, db, dsn, cpus string) (*spawned, error) {
	dir, err := os.MkdirTemp("", "accountd-bench-server-")
	if err != nil {
		return nil, err
	}
	s := &spawned{dir: dir, drop: func() {}}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	pw := make([]byte, 24)
	rand.Read(pw)
	pwFile := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(pw)), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.addr = "127.0.0.1:" + port
	args := []string{"setup", "--non-interactive", "--data-dir", filepath.Join(dir, "data"), "--listen", s.addr, "--admin-password-file", pwFile, "--db", db}
	if db == "mysql" {
		full, drop, err := freshDatabase(ctx, dsn)
		if err != nil {
			return nil, err
		}
		s.drop = drop
		args = append(args, "--db-dsn", full)
	}
	setup := exec.CommandContext(ctx, bin, args...)
	if out, err := setup.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("accountd setup: %w\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	serve := []string{bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--admin-password-file", pwFile, "--log-level", "warn",
		// One IP (this machine) makes every request: lift the per-IP
		// limits so that the server's capacity is measured, not them.
		"--rate-limit", "1000000", "--rate-burst", "1000000",
		"--hash-rate", "1000000", "--hash-burst", "1000000",
		"--hashes-per-client", "1000000", "--handshakes-per-client", "1000000",
		"--max-conns-per-ip", "1000000"}
	if cpus != "" {
		// taskset execs the server in its own process: the pid is the
		// server's, and every thread it starts inherits the CPU list.
		serve = append([]string{"taskset", "--cpu-list", cpus}, serve...)
	}
	s.cmd = exec.Command(serve[0], serve[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("spawned server did not become healthy; log in %s", logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok = true
	fmt.Fprintf(os.Stderr, "spawned accountd (%s store) at %s, pid %d%s\n", db, s.addr, s.pid, map[bool]string{true: ", on CPUs " + cpus}[cpus != ""])
	return s, nil
}

func (s *spawned) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	s.drop()
	os.RemoveAll(s.dir)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// freshDatabase creates a randomly named database on the MariaDB server of
// dsn and returns a DSN for it and a function that drops it.
func freshDatabase(ctx context.Context, dsn string) (string, func(), error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("--spawn-dsn: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "accountd_bench_" + hex.EncodeToString(b)
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create bench database: %w", err)
	}
	drop := func() {
		db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		db.Close()
	}
	cfg.DBName = name
	return cfg.FormatDSN(), drop, nil
}
