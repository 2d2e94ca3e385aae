package menu

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/accountd/accountd/client"
)

// The rules the forms check locally, as the user types; they mirror the
// server's (DESIGN.md: usernames, email, password policy), which has the
// final word.
const (
	minUsername = 3
	maxUsername = 32
	maxPassword = 1024
	maxEmail    = 254
)

func validServer(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("enter the server's address, like 127.0.0.1:8080")
	}
	if _, _, err := client.ServerAddress(strings.TrimSpace(s)); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "client: "))
	}
	return nil
}

// validUsername checks a username for signup: 3 to 32 of a-z, 0-9, '.',
// '_' and '-' (upper case is accepted and folded, as the server does).
func validUsername(s string) error {
	s = strings.ToLower(s)
	n := utf8.RuneCountInString(s)
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q is not allowed: use a-z, 0-9, '.', '_' and '-'", r)
		}
	}
	switch {
	case n == 0:
		return errors.New("choose a username")
	case n < minUsername:
		return fmt.Errorf("at least %d characters", minUsername)
	case n > maxUsername:
		return fmt.Errorf("at most %d characters", maxUsername)
	}
	return nil
}

// validLoginName checks a username typed to log in: only that there is
// one, so that the server's answer is the same for every unknown name.
func validLoginName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("enter your username")
	}
	return nil
}

// validEmail checks an optional plain address (no display name) with a
// dot in its domain, as the server does.
func validEmail(s string) error {
	if s == "" {
		return nil
	}
	a, err := mail.ParseAddress(s)
	at := strings.LastIndexByte(s, '@')
	if err != nil || a.Address != s || a.Name != "" || at < 0 || !strings.Contains(s[at:], ".") {
		return errors.New("not an email address (like name@example.com)")
	}
	if len(s) > maxEmail {
		return fmt.Errorf("at most %d characters", maxEmail)
	}
	return nil
}

// validPassword returns the check for a new password: min to 1024
// characters (counted as Unicode code points), not the username.
func validPassword(min int, username *string) func(string) error {
	return func(s string) error {
		n := utf8.RuneCountInString(s)
		switch {
		case !utf8.ValidString(s):
			return errors.New("not valid text")
		case n < min:
			return fmt.Errorf("at least %d characters (%d so far); a few unrelated words make a good one", min, n)
		case n > maxPassword:
			return fmt.Errorf("at most %d characters", maxPassword)
		case strings.EqualFold(s, *username):
			return errors.New("must not be your username")
		}
		return nil
	}
}

// samePassword returns the check for the confirmation field.
func samePassword(first *string) func(string) error {
	return func(s string) error {
		if s != *first {
			return errors.New("does not match the password above")
		}
		return nil
	}
}

// passwordMeter is the live description under the password field.
func passwordMeter(min int, p, username *string) func() string {
	return func() string {
		n := utf8.RuneCountInString(*p)
		switch {
		case n < min:
			return fmt.Sprintf("At least %d characters: %d to go. No other rules; long beats clever.", min, min-n)
		case n > maxPassword:
			return fmt.Sprintf("%d characters: at most %d, please.", n, maxPassword)
		case strings.EqualFold(*p, *username):
			return "✗ That is your username."
		}
		return fmt.Sprintf("%d characters ✓ (the server may ask for more)", n)
	}
}

// liveHint is the description under a field, redone as the user types:
// the rule, then what is wrong with the value so far, or a tick.
func liveHint(rule string, check func(string) error, v *string) func() string {
	return func() string {
		if *v == "" {
			return rule
		}
		if err := check(*v); err != nil {
			// The problem replaces the rule, so the hint stays short
			// and the form does not grow as the user types.
			return "✗ " + err.Error()
		}
		return rule + " ✓"
	}
}
