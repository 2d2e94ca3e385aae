// Command accountd-bench is accountd's load generator. It speaks the real
// protocol through the client package, against a server on loopback only.
//
//	accountd-bench [flags] <scenario>...   handshake signup login authenticate refresh verify logout mixed idle revocation revocation-instance
//	accountd-bench limits [flags]          the machine's Argon2id and RSA-3072 limits
//
// With --spawn PATH it sets up and starts a throwaway accountd (PATH is the
// accountd binary) and measures that server's memory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "accountd-bench: error: %s\n", err)
		os.Exit(1)
	}
}

var scenarios = []string{"handshake", "signup", "login", "authenticate", "refresh", "verify", "logout", "mixed", "idle", "revocation", "revocation-instance"}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "limits" {
		return limitsCmd(ctx, args[1:], stdout)
	}
	fs := flag.NewFlagSet("accountd-bench", flag.ContinueOnError)
	var o benchOptions
	fs.StringVar(&o.server, "server", "", "server address on loopback, e.g. 127.0.0.1:8080 (or use --spawn)")
	fs.StringVar(&o.spawn, "spawn", "", "path of an accountd binary: set up and start a throwaway server")
	fs.StringVar(&o.spawnDB, "spawn-db", "sqlite", "store of the spawned server: sqlite or mysql")
	fs.StringVar(&o.spawnDSN, "spawn-dsn", "root@tcp(127.0.0.1:3306)/", "MariaDB server DSN for --spawn-db mysql; a fresh database is created and dropped")
	fs.StringVar(&o.serverB, "server-b", "", "revocation: a second instance of the same deployment, whose revocation feed the Verifier follows (started by --spawn)")
	fs.StringVar(&o.serviceKey, "service-key", "", "revocation: a service key of the deployment, to watch the feed (made by --spawn)")
	fs.StringVar(&o.spawnCPUs, "spawn-cpus", "", "pin the spawned server to these CPUs (a taskset list, e.g. 0); pin the generator itself with taskset to measure them apart")
	fs.IntVar(&o.pid, "pid", 0, "pid of the server process, to report its peak RSS (set by --spawn)")
	fs.StringVar(&o.concurrency, "concurrency", "4", "comma-separated concurrency levels, one run per level")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each run")
	fs.IntVar(&o.maxOps, "max-ops", 1_000_000, "stop a run after this many operations")
	fs.IntVar(&o.sessions, "sessions", 200, "revocation scenarios: sessions logged in beforehand and then logged out, one sample each")
	fs.IntVar(&o.idle, "idle", 1000, "idle handshaken connections held by the idle scenario")
	fs.BoolVar(&o.json, "json", false, "print results as JSON")
	fs.BoolVar(&o.limits, "limits", false, "measure the machine's limit (Argon2id for login, RSA-3072 for handshake) just before and after each such run and report the ratio")
	cpuprofile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	o.scenarios = fs.Args()
	if len(o.scenarios) == 0 {
		return errors.New("name at least one scenario: " + strings.Join(scenarios, " ") + " (or 'limits')")
	}
	if len(o.scenarios) == 1 && o.scenarios[0] == "all" {
		o.scenarios = scenarios
		if o.spawn == "" && (o.serverB == "" || o.serviceKey == "") {
			// The revocation scenarios need a second instance and a
			// service key, which only --spawn makes by itself.
			o.scenarios = slices.DeleteFunc(slices.Clone(scenarios), isRevocation)
		}
	}
	for _, s := range o.scenarios {
		if !slices.Contains(scenarios, s) {
			return fmt.Errorf("unknown scenario %q (want one of %s)", s, strings.Join(scenarios, " "))
		}
	}
	levels, err := parseLevels(o.concurrency)
	if err != nil {
		return err
	}
	if o.duration <= 0 || o.duration > time.Hour || o.warmup < 0 || o.warmup > 10*time.Minute {
		return errors.New("--duration must be in (0, 1h] and --warmup in [0, 10m]")
	}
	if o.idle < 0 || o.idle > 100_000 {
		return errors.New("--idle must be between 0 and 100000")
	}
	if o.sessions < 1 || o.sessions > 100_000 {
		return errors.New("--sessions must be between 1 and 100000")
	}
	if o.spawn != "" {
		if !cpuList.MatchString(o.spawnCPUs) {
			return fmt.Errorf("--spawn-cpus %q: want a CPU list such as 0 or 0,2-3", o.spawnCPUs)
		}
		srv, err := spawnServer(ctx, o.spawn, o.spawnDB, o.spawnDSN, o.spawnCPUs)
		if err != nil {
			return err
		}
		defer srv.stop()
		o.server, o.pid = srv.addr, srv.pid
		if slices.ContainsFunc(o.scenarios, isRevocation) {
			if o.serverB, err = srv.startInstance(); err != nil {
				return err
			}
			if o.serviceKey, err = srv.serviceKey(ctx, "bench-feed"); err != nil {
				return err
			}
		}
	}
	if o.server == "" {
		return errors.New("--server or --spawn is required")
	}
	if err := checkLoopback(o.server); err != nil {
		return err
	}
	if slices.ContainsFunc(o.scenarios, isRevocation) {
		if o.serverB == "" || o.serviceKey == "" {
			return errors.New("revocation needs --server-b and --service-key (or --spawn)")
		}
		if err := checkLoopback(o.serverB); err != nil {
			return err
		}
	}
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	// The limit is the server's: on the CPUs it is pinned to, else on
	// every CPU this generator may use.
	limitCPUs := runtime.NumCPU()
	if o.spawnCPUs != "" {
		limitCPUs = countCPUs(o.spawnCPUs)
	}
	var results []*Result
	if o.pid != 0 {
		rss, _ := readRSS(o.pid)
		results = append(results, &Result{Scenario: "server idle", ServerRSSBytes: rss})
	}
	for _, s := range o.scenarios {
		for _, c := range levels {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var before float64
			if o.limits {
				before = scenarioLimit(ctx, s, limitCPUs)
			}
			r, err := b.run(ctx, s, c)
			if err != nil {
				return fmt.Errorf("%s at concurrency %d: %w", s, c, err)
			}
			if o.limits && before > 0 {
				r.LimitPerSec = (before + scenarioLimit(ctx, s, limitCPUs)) / 2
				r.LimitCPUs = limitCPUs
				r.Ratio = r.OpsPerSec / r.LimitPerSec
			}
			r.ServerCPUs, r.GeneratorCPUs = o.spawnCPUs, runtime.NumCPU()
			results = append(results, r)
			if !o.json {
				fmt.Fprintln(os.Stderr, r.line())
			}
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	printTable(stdout, results)
	return nil
}

// countCPUs counts the CPUs of a list cpuList accepts.
func countCPUs(list string) int {
	n := 0
	for _, r := range strings.Split(list, ",") {
		var lo, hi int
		if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err == nil {
			n += max(hi-lo+1, 0)
		} else {
			n++
		}
	}
	return max(n, 1)
}

// cpuList is a taskset CPU list, or empty.
var cpuList = regexp.MustCompile(`^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$`)

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &n); err != nil || n < 1 || n > 10_000 {
			return nil, fmt.Errorf("--concurrency %q: want numbers between 1 and 10000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func isRevocation(scenario string) bool {
	return scenario == "revocation" || scenario == "revocation-instance"
}
