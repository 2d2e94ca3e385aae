package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/accountd/accountd/setup"
)

// Where the admin password can come from, besides the terminal.
const (
	adminPasswordFileEnv = "ACCOUNTD_ADMIN_PASSWORD_FILE"
	adminPasswordEnv     = "ACCOUNTD_ADMIN_PASSWORD"
)

// stdinIsTerminal reports whether a person can be asked on stdin.
func stdinIsTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// adminPassword returns the admin password from file when set, else from
// $ACCOUNTD_ADMIN_PASSWORD when not empty (it then removes it from the
// environment),
// else by asking on the terminal with no echo (twice when confirm is set).
func adminPassword(file string, confirm bool) ([]byte, error) {
	if file != "" {
		return setup.ReadPasswordFile(file)
	}
	if v := os.Getenv(adminPasswordEnv); v != "" {
		os.Unsetenv(adminPasswordEnv)
		return []byte(v), nil
	}
	if !stdinIsTerminal() {
		return nil, hintError{errors.New("no admin password: stdin is not a terminal"),
			"pass --admin-password-file FILE, or set " + adminPasswordFileEnv + " or " + adminPasswordEnv}
	}
	return askPassword("Admin password: ", confirm)
}

// askPassword reads a password on the terminal with no echo, twice when
// confirm is set.
func askPassword(prompt string, confirm bool) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	fmt.Fprint(os.Stderr, prompt)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			clear(pw)
			return nil, fmt.Errorf("read password: %w", err)
		}
		same := bytes.Equal(pw, again)
		clear(again)
		if !same {
			clear(pw)
			return nil, errors.New("the two passwords differ")
		}
	}
	if len(pw) == 0 {
		return nil, errors.New("the password is empty")
	}
	return pw, nil
}
