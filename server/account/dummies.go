package account

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/accountd/accountd/server/internal/argon2id"
	"github.com/accountd/accountd/store"
)

// dummyHashes chooses the hash a login verifies the password against when
// the username names no account. After an Argon2 parameter change the
// accounts' hashes carry old parameters until their owners log in again,
// and each costs what its parameters cost; a dummy under the current
// parameters only would then tell a name that exists (old cost) from one
// that does not. So a dummy's parameters are drawn from those of the
// accounts' hashes, in proportion to how many accounts use each: by a
// keyed hash of the username, so that a name costs the same at every try
// and on every instance.
type dummyHashes struct {
	key      []byte
	fallback argon2id.Params

	mu    sync.RWMutex
	sets  []paramWeight // ordered by field, the same on every instance
	total int64
}

type paramWeight struct {
	params argon2id.Params
	field  string
	count  int64
}

// maxDummyParamSets bounds the parameter sets kept: the most used ones.
const maxDummyParamSets = 16

// dummyRefreshInterval is how often the accounts' parameters are counted
// again.
const dummyRefreshInterval = 10 * time.Minute

func newDummyHashes(masterKey []byte, fallback argon2id.Params) *dummyHashes {
	mac := hmac.New(sha256.New, masterKey)
	mac.Write([]byte("accountd dummy hash choice v1"))
	return &dummyHashes{key: mac.Sum(nil), fallback: fallback}
}

// refresh counts the accounts' hash parameters again. Fields that do not
// parse, or are out of Argon2's bounds, are left out.
func (d *dummyHashes) refresh(ctx context.Context, st store.Store) error {
	counts, err := st.CountHashParams(ctx)
	if err != nil {
		return err
	}
	var sets []paramWeight
	for field, n := range counts {
		p, err := argon2id.ParseParamField(field)
		if err != nil || p.Validate() != nil || n <= 0 {
			continue
		}
		sets = append(sets, paramWeight{params: p, field: field, count: n})
	}
	slices.SortFunc(sets, func(a, b paramWeight) int {
		return cmp.Or(cmp.Compare(b.count, a.count), strings.Compare(a.field, b.field))
	})
	if len(sets) > maxDummyParamSets {
		sets = sets[:maxDummyParamSets]
	}
	slices.SortFunc(sets, func(a, b paramWeight) int { return strings.Compare(a.field, b.field) })
	var total int64
	for _, s := range sets {
		total += s.count
	}
	d.mu.Lock()
	d.sets, d.total = sets, total
	d.mu.Unlock()
	return nil
}

// paramsFor returns the parameters of the dummy for username: the
// fallback (the current parameters) while no account is counted.
func (d *dummyHashes) paramsFor(username string) argon2id.Params {
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte(strings.ToLower(username)))
	x := binary.BigEndian.Uint64(mac.Sum(nil))
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.total <= 0 {
		return d.fallback
	}
	r := int64(x % uint64(d.total))
	for _, s := range d.sets {
		if r < s.count {
			return s.params
		}
		r -= s.count
	}
	return d.fallback
}

// forUnknown returns a hash no password matches, to verify against for
// username, which names no account.
func (d *dummyHashes) forUnknown(username string) string {
	return argon2id.Dummy(d.paramsFor(username))
}

// dummyLike returns a hash no password matches with the parameters of
// hash, for an account whose password is not to be checked (throttled,
// locked): the refusal costs what checking its password costs.
func dummyLike(hash string, fallback argon2id.Params) string {
	p, err := argon2id.ParseParams(hash)
	if err != nil {
		p = fallback
	}
	return argon2id.Dummy(p)
}

// runDummyRefresh counts the accounts' hash parameters every
// dummyRefreshInterval until ctx ends.
func (s *Service) runDummyRefresh(ctx context.Context) {
	t := time.NewTicker(dummyRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.dummies.refresh(ctx, s.store); err != nil && ctx.Err() == nil {
				s.log.Warn("count password hash parameters", "err", err)
			}
		}
	}
}
