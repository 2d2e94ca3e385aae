package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

// settleTimeout bounds the read that settles a write whose commit could
// not be confirmed; it runs on a context detached from the request's,
// whose deadline may be what cut the write short.
const settleTimeout = 5 * time.Second

// settle decides a write whose commit could not be confirmed
// (store.ErrOutcomeUnknown, in err) by reading back what it wrote, by the
// id the rule chose before writing. applied reports whether the write is
// there. It returns nil when it is (the operation succeeded), an error
// wrapping store.ErrUnavailable when it certainly is not (nothing took
// effect: safe to retry), and err itself when the read fails too (the
// client is told outcome_unknown).
func (s *Service) settle(ctx context.Context, err error, applied func(context.Context) (bool, error)) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ok, rerr := applied(rctx)
	switch {
	case ok:
		s.log.Warn("a write whose commit was not confirmed was read back: it took effect", "err", err)
		return nil
	case rerr == nil:
		return fmt.Errorf("%w: the write did not take effect", store.ErrUnavailable)
	default:
		return err
	}
}

// notFound turns the read back's ErrNotFound into a definite "not
// applied" (nil), and keeps any other error.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
