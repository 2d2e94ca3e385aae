package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Limits are the machine's physical bounds for accountd's two expensive
// operations, measured with every core busy.
type Limits struct {
	CPUs int `json:"cpus"`
	// Argon2Params are the parameters measured (the server's defaults
	// unless set by flags).
	Argon2Time      uint32 `json:"argon2_time"`
	Argon2MemoryKiB uint32 `json:"argon2_memory_kib"`
	Argon2Threads   uint8  `json:"argon2_threads"`
	// Argon2PerSec is Argon2id hashes per second with CPUs hashes at once.
	Argon2PerSec float64 `json:"argon2_per_sec"`
	// RSADecryptPerSec is RSA-3072 OAEP-SHA256 decryptions per second.
	RSADecryptPerSec float64 `json:"rsa3072_oaep_decrypt_per_sec"`
}

func limitsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("accountd-bench limits", flag.ContinueOnError)
	t := fs.Uint("argon2-time", 2, "Argon2id passes (the server's default: 2)")
	m := fs.Uint("argon2-memory-kib", 64*1024, "Argon2id memory in KiB (the server's default: 65536)")
	p := fs.Uint("argon2-threads", 4, "Argon2id parallelism (the server's default: 4)")
	d := fs.Duration("duration", 5*time.Second, "measured time per limit")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *t < 1 || *t > 64 || *m < 8 || *m > 4<<20 || *p < 1 || *p > 255 || *d <= 0 || *d > time.Hour {
		return fmt.Errorf("limits: parameters out of range")
	}
	l, err := measureLimits(ctx, uint32(*t), uint32(*m), uint8(*p), *d)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	fmt.Fprintf(stdout, "cpus                         %d\n", l.CPUs)
	fmt.Fprintf(stdout, "argon2id t=%d m=%d KiB p=%d   %.2f hashes/s\n", l.Argon2Time, l.Argon2MemoryKiB, l.Argon2Threads, l.Argon2PerSec)
	fmt.Fprintf(stdout, "rsa-3072 oaep decrypt        %.1f /s\n", l.RSADecryptPerSec)
	return nil
}

func measureLimits(ctx context.Context, t, m uint32, p uint8, d time.Duration) (*Limits, error) {
	l := &Limits{CPUs: runtime.NumCPU(), Argon2Time: t, Argon2MemoryKiB: m, Argon2Threads: p}
	salt := make([]byte, 16)
	rand.Read(salt)
	l.Argon2PerSec = saturate(ctx, l.CPUs, d, func() { hashOnce(salt, t, m, p) })
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, secret, []byte("accountd.v3 client secret"))
	if err != nil {
		return nil, err
	}
	l.RSADecryptPerSec = saturate(ctx, l.CPUs, d, func() {
		if _, err := rsa.DecryptOAEP(sha256.New(), nil, key, ct, []byte("accountd.v3 client secret")); err != nil {
			panic(err)
		}
	})
	return l, ctx.Err()
}

// saturate runs f on n goroutines for d (after a short warm-up) and
// returns completions per second.
func saturate(ctx context.Context, n int, d time.Duration, f func()) float64 {
	var count atomic.Int64
	var measuring, stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				f()
				if measuring.Load() {
					count.Add(1)
				}
			}
		}()
	}
	sleepCtx(ctx, d/5)
	start := time.Now()
	measuring.Store(true)
	sleepCtx(ctx, d)
	measuring.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	return float64(count.Load()) / elapsed.Seconds()
}

// scenarioLimit measures, for 5 s with the server idle, the limit a
// scenario is bounded by on cpus cores: Argon2id hashes/s (the server's
// default parameters) for login, RSA-3072 OAEP decryptions/s for
// handshake; 0 for scenarios without one.
func scenarioLimit(ctx context.Context, scenario string, cpus int) float64 {
	var f func()
	switch scenario {
	case "login":
		salt := make([]byte, 16)
		rand.Read(salt)
		f = func() { hashOnce(salt, 2, 64*1024, 4) }
	case "handshake":
		key, ct := rsaFixture()
		f = func() { rsa.DecryptOAEP(sha256.New(), nil, key, ct, []byte("accountd.v3 client secret")) }
	default:
		return 0
	}
	return saturate(ctx, cpus, 5*time.Second, f)
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaCT   []byte
)

func rsaFixture() (*rsa.PrivateKey, []byte) {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 3072); err != nil {
			panic(err)
		}
		secret := make([]byte, 32)
		rand.Read(secret)
		if rsaCT, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &rsaKey.PublicKey, secret, []byte("accountd.v3 client secret")); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaCT
}

// hashOnce is one Argon2id hash followed by a collection, the way the
// server's gate runs them: the collection lets the next hash reuse the
// buffer's pages instead of faulting in fresh ones, so the limit is the
// hashing itself.
func hashOnce(salt []byte, t, m uint32, p uint8) {
	argon2.IDKey([]byte("a password of typical length!"), salt, t, m, p, 32)
	runtime.GC()
}
