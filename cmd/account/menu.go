package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/client/menu"
)

// wantsMenu reports whether the command line asks for the interactive
// menu: no command, "menu", or menu flags only.
func wantsMenu(args []string) bool {
	if len(args) == 0 || args[0] == "menu" {
		return true
	}
	switch args[0] {
	case "-h", "-help", "--help":
		return false
	}
	return len(args[0]) > 1 && args[0][0] == '-'
}

// runMenu parses the menu's flags and runs it.
func runMenu(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "menu" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("account", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		server, known, ca    string
		devices              string
		remember, accessible bool
		timeout              time.Duration
	)
	fs.StringVar(&server, "server", os.Getenv("ACCOUNTD_SERVER"), "server address (host:port or ws://host:port/ws); env ACCOUNTD_SERVER; empty: the menu asks")
	fs.StringVar(&known, "known-servers", "", "known-servers file (default <config dir>/accountd/known_servers)")
	fs.StringVar(&devices, "device-tokens", "", "device token file, so that strangers' wrong guesses cannot lock you out (default <config dir>/accountd/device_tokens)")
	fs.BoolVar(&remember, "remember", false, "keep the session across runs in <config dir>/accountd/sessions (0600); Log out removes it")
	fs.BoolVar(&accessible, "accessible", os.Getenv("ACCESSIBLE") != "", "plain line-by-line prompts (screen readers, pipes); env ACCESSIBLE")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up on each network operation after this long")
	fs.StringVar(&ca, "ca-file", os.Getenv("ACCOUNTD_CA_FILE"), "PEM certificates a wss:// server's TLS certificate must chain to, instead of the system's (env ACCOUNTD_CA_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return report(stderr, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))})
	}
	if !accessible && !(isTerminal(stdin) && isTerminal(stdout)) {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "account: error: the menu needs a terminal")
		fmt.Fprintln(stderr, "hint: in scripts use the commands above; for plain line-by-line prompts pass --accessible")
		return exitUsage
	}
	if known == "" {
		var err error
		if known, err = client.DefaultKnownServersPath(); err != nil {
			return report(stderr, fmt.Errorf("find config dir: %w (pass --known-servers)", err))
		}
	}
	if devices == "" {
		var err error
		if devices, err = client.DefaultDeviceTokensPath(); err != nil {
			return report(stderr, fmt.Errorf("find config dir: %w (pass --device-tokens)", err))
		}
	}
	opts := menu.Options{
		Server:       server,
		CAFile:       ca,
		Trust:        client.NewKnownServers(known),
		DeviceTokens: client.NewDeviceTokenFile(devices),
		Accessible:   accessible,
		In:           stdin,
		Out:          stdout,
		Timeout:      timeout,
	}
	if remember {
		dir, err := menu.DefaultSessionsDir()
		if err != nil {
			return report(stderr, fmt.Errorf("find config dir: %w", err))
		}
		opts.Sessions = &menu.SavedSessions{Dir: dir}
	}
	err := menu.Run(ctx, opts)
	switch {
	case errors.Is(err, menu.ErrNotTrusted):
		return exitConn // the menu said so
	case errors.Is(err, menu.ErrInputEnded):
		fmt.Fprintln(stderr, "account: error: the input ended before Quit")
		return exitUsage
	}
	return report(stderr, err)
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// forgetSavedSession removes the session --remember saved for server
// when it holds token: that session has just been logged out.
func forgetSavedSession(server, token string) {
	dir, err := menu.DefaultSessionsDir()
	if err != nil {
		return
	}
	s := &menu.SavedSessions{Dir: dir}
	if saved, err := s.Load(server); err == nil && saved != nil && saved.Token == token {
		s.Remove(server)
	}
}
