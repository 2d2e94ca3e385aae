package main

import (
	"bytes"
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
	"strings"
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
	// bin and pwFile start more instances and run admin commands.
	bin, pwFile string
	// others are the extra instances (startInstance), stopped with it.
	others []*exec.Cmd
	// cpus, when not empty, is the CPU list (taskset) the servers run on.
	cpus string
}

// spawnServer sets up a fresh data folder (and, for mysql, a fresh
// database) with a random admin password and starts `accountd serve`,
// pinned with taskset to the CPU list cpus when it is not empty.
func spawnServer(ctx context.Context, bin, db, dsn, cpus string) (*spawned, error) {
	dir, err := os.MkdirTemp("", "accountd-bench-server-")
	if err != nil {
		return nil, err
	}
	s := &spawned{dir: dir, drop: func() {}, bin: bin, cpus: cpus}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	pw := make([]byte, 24)
	rand.Read(pw)
	pwFile := filepath.Join(dir, "admin-password")
	s.pwFile = pwFile
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
	if s.cmd, err = s.serve(s.addr, "server.log"); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	ok = true
	fmt.Fprintf(os.Stderr, "spawned accountd (%s store) at %s, pid %d%s\n", db, s.addr, s.pid, map[bool]string{true: ", on CPUs " + cpus}[cpus != ""])
	return s, nil
}

// serve starts `accountd serve` on the spawned data folder, listening on
// addr and logging to logName in the folder, and waits until it is
// healthy.
func (s *spawned) serve(addr, logName string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(s.dir, logName))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	serve := []string{s.bin, "serve", "--data-dir", filepath.Join(s.dir, "data"), "--admin-password-file", s.pwFile, "--log-level", "warn",
		"--listen", addr,
		// One IP (this machine) makes every request: lift the per-IP
		// limits so that the server's capacity is measured, not them.
		"--rate-limit", "1000000", "--rate-burst", "1000000",
		"--hash-rate", "1000000", "--hash-burst", "1000000",
		"--hashes-per-client", "1000000", "--handshakes-per-client", "1000000",
		"--max-conns-per-ip", "1000000"}
	if s.cpus != "" {
		// taskset execs the server in its own process: the pid is the
		// server's, and every thread it starts inherits the CPU list.
		serve = append([]string{"taskset", "--cpu-list", s.cpus}, serve...)
	}
	cmd := exec.Command(serve[0], serve[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, nil
			}
		}
		if time.Now().After(deadline) {
			stopCmd(cmd)
			return nil, fmt.Errorf("spawned server did not become healthy; log in %s", logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startInstance starts another instance of the spawned deployment (same
// data folder, same database) on a free port and returns its address.
func (s *spawned) startInstance() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + port
	cmd, err := s.serve(addr, fmt.Sprintf("server-%d.log", len(s.others)+2))
	if err != nil {
		return "", err
	}
	s.others = append(s.others, cmd)
	fmt.Fprintf(os.Stderr, "spawned a second accountd instance at %s, pid %d\n", addr, cmd.Process.Pid)
	return addr, nil
}

// serviceKey adds a service key to the spawned deployment and returns it.
func (s *spawned) serviceKey(ctx context.Context, name string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, "services", "add", name)
	cmd.Env = append(os.Environ(), "ACCOUNTD_DATA_DIR="+filepath.Join(s.dir, "data"), "ACCOUNTD_ADMIN_PASSWORD_FILE="+s.pwFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("accountd services add: %w\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// stopCmd stops a server with SIGTERM, then SIGKILL after 15 s.
func stopCmd(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (s *spawned) stop() {
	for _, cmd := range s.others {
		stopCmd(cmd)
	}
	stopCmd(s.cmd)
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
