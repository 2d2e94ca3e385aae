package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
)

// eventsCmd is `accountd events`: it unlocks the config like serve does
// and prints the audit log (auth_events), oldest first.
func eventsCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd events")
	c := addCommon(fs)
	account := fs.String("account", "", "only this account's events: a username or an account id")
	since := fs.String("since", "24h", "only events since: a duration back from now (90m, 24h, 7d) or a time (2006-01-02 or RFC 3339)")
	limit := fs.Int("limit", store.DefaultAuthEventLimit, "at most this many events (the newest)")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return usageError{fmt.Sprintf("--since %q: %v", *since, err)}
	}
	if *limit < 1 {
		return usageError{"--limit must be at least 1"}
	}
	cfg, _, err := c.unlock()
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(octx, cfg.Database.Driver, cfg.Database.DSN)
	if err != nil {
		return fmt.Errorf("open %s store: %w", cfg.Database.Driver, err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(octx); err != nil {
		return err
	} else if v < db.LatestSchemaVersion() {
		return hintError{fmt.Errorf("the database schema is at version %d, older than this accountd's %d", v, db.LatestSchemaVersion()),
			"start 'accountd serve' once: it migrates the schema"}
	}
	f := store.AuthEventFilter{Since: from, Limit: *limit}
	if *account != "" {
		if f.AccountID, err = resolveAccount(octx, db, *account); err != nil {
			return err
		}
	}
	events, err := db.ListAuthEvents(octx, f)
	if err != nil {
		return err
	}
	slices.Reverse(events) // oldest first, like a log
	names := accountNames(octx, db, events)
	if *asJSON {
		return printEventsJSON(os.Stdout, events, names)
	}
	printEvents(os.Stdout, events, names)
	return nil
}

var accountIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// resolveAccount turns a username or an account id into an account id. An
// id that matches no account is kept: the audit log outlives accounts.
func resolveAccount(ctx context.Context, db store.Store, s string) (string, error) {
	a, err := db.GetAccountByUsername(ctx, strings.ToLower(s))
	switch {
	case err == nil:
		return a.ID, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	case accountIDRE.MatchString(s):
		return s, nil
	}
	return "", hintError{fmt.Errorf("no account named %q", s), "pass a username or a 32-character account id"}
}

// accountNames maps the account ids in events to usernames, for display;
// deleted accounts have none.
func accountNames(ctx context.Context, db store.Store, events []store.AuthEvent) map[string]string {
	names := make(map[string]string)
	for _, e := range events {
		if _, done := names[e.AccountID]; done || e.AccountID == "" {
			continue
		}
		names[e.AccountID] = ""
		if a, err := db.GetAccount(ctx, e.AccountID); err == nil {
			names[e.AccountID] = a.Username
		}
	}
	return names
}

// parseSince reads --since: a duration back from now (Go syntax, plus a
// "d" suffix for days), a date (UTC midnight) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("want a positive duration")
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("want a duration (90m, 24h, 7d), a date (2006-01-02) or an RFC 3339 time")
}

// printEvents writes one line per event. Every value comes from the
// database and may hold anything a client sent (an op name): values that
// are not plain are quoted, so a line cannot be forged or broken.
func printEvents(w io.Writer, events []store.AuthEvent, names map[string]string) {
	for _, e := range events {
		line := fmt.Sprintf("%s %-14s reason=%s ip=%s account=%s", e.At.UTC().Format("2006-01-02T15:04:05.000000Z"),
			plain(e.Type), plain(e.Reason), plain(e.IP), plain(e.AccountID))
		if n := names[e.AccountID]; n != "" {
			line += " user=" + plain(n)
		}
		line += " session=" + plain(e.SessionID)
		if e.Count > 0 {
			// An aggregated row: this many like refusals, the last at At.
			line += fmt.Sprintf(" count=%d", e.Count)
		}
		fmt.Fprintln(w, line)
	}
	if len(events) == 0 {
		fmt.Fprintln(os.Stderr, "no events")
	}
}

var plainRE = regexp.MustCompile(`^[A-Za-z0-9._:/@-]+$`)

// plain returns s as it is when it is made of safe characters, "-" when
// empty, and Go-quoted otherwise.
func plain(s string) string {
	switch {
	case s == "":
		return "-"
	case plainRE.MatchString(s):
		return s
	}
	return strconv.Quote(s)
}

func printEventsJSON(w io.Writer, events []store.AuthEvent, names map[string]string) error {
	for _, e := range events {
		if err := writeJSON(w, struct {
			ID        int64     `json:"id"`
			At        time.Time `json:"at"`
			Type      string    `json:"type"`
			Reason    string    `json:"reason,omitempty"`
			IP        string    `json:"ip,omitempty"`
			AccountID string    `json:"account_id,omitempty"`
			Username  string    `json:"username,omitempty"`
			SessionID string    `json:"session_id,omitempty"`
			Count     int64     `json:"count,omitempty"`
		}{e.ID, e.At.UTC(), e.Type, e.Reason, e.IP, e.AccountID, names[e.AccountID], e.SessionID, e.Count}, false); err != nil {
			return err
		}
	}
	return nil
}
