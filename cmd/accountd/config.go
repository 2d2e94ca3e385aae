package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/accountd/accountd/setup"
)

// configCmd: accountd config show|get|set.
func configCmd(ctx context.Context, args []string) error {
	sub, args, err := subcommand("config", args, "show, get or set")
	if err != nil {
		return err
	}
	fs := newFlagSet("accountd config " + sub)
	c := addCommon(fs)
	switch sub {
	case "show":
		asJSON := fs.Bool("json", false, "print the config as JSON, secrets redacted (only the settings that are not defaults)")
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, dir, err := c.unlock()
		if err != nil {
			return err
		}
		if *asJSON {
			fmt.Printf("# %s\n%s\n", setup.ConfigPath(dir), cfg.Redacted())
			return nil
		}
		return showConfig(cfg, dir)
	case "get":
		pos, err := parseWithArgs(fs, args, "KEY")
		if err != nil {
			return err
		}
		s, err := setup.LookupSetting(pos[0])
		if err != nil {
			return usageError{err.Error()}
		}
		cfg, _, err := c.unlock()
		if err != nil {
			return err
		}
		fmt.Println(s.Get(effectiveSettings(cfg)))
		return nil
	case "set":
		pos, err := parseWithArgs(fs, args, "KEY", "VALUE")
		if err != nil {
			return err
		}
		return setConfig(ctx, c, pos[0], pos[1])
	}
	return usageError{fmt.Sprintf("accountd config: unknown subcommand %q (want show, get or set)", sub)}
}

// showConfig prints every setting with its value, whether it is the
// default, and how a change reaches a running server.
func showConfig(cfg *setup.Config, dir string) error {
	eff := effectiveSettings(cfg)
	fmt.Printf("# %s\n", setup.ConfigPath(dir))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s\n", cfg.Database.String())
	fmt.Fprintf(tw, "identity\t%s\n", cfg.IdentityFingerprint())
	if len(cfg.PreviousIdentityKey) != 0 {
		fmt.Fprintf(tw, "previous identity\t%s, announced until %s (accountd identity show)\n", cfg.PreviousIdentityFingerprint(), cfg.PreviousIdentityUntil.UTC().Format(time.RFC3339))
	}
	if len(cfg.PreviousMasterKey) != 0 {
		fmt.Fprintf(tw, "master key\tREDACTED, and the previous one: a rotation is under way (accountd keys rotate-master finishes it)\n\n")
	} else {
		fmt.Fprintf(tw, "master key\tREDACTED\n\n")
	}
	fmt.Fprintln(tw, "SETTING\tVALUE\tDEFAULT\tA CHANGE APPLIES")
	for _, s := range setup.Settings() {
		def, applies := "no", "at restart"
		if s.IsDefault(cfg) {
			def = "yes"
		}
		if s.Live {
			applies = "on SIGHUP"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, cmpOr(s.Get(eff), "(none)"), def, applies)
	}
	return tw.Flush()
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// setConfig changes one setting: checked with the server's bounds,
// recorded in the audit log, then sealed and written atomically.
func setConfig(ctx context.Context, c *common, key, value string) error {
	s, err := setup.LookupSetting(key)
	if err != nil {
		return usageError{err.Error()}
	}
	dir, pw, err := c.setUpDirAndPassword()
	if err != nil {
		return err
	}
	defer clear(pw)
	var before string
	cfg, err := setup.UpdateConfig(dir, pw, func(cfg *setup.Config) error {
		before = s.Get(effectiveSettings(cfg))
		if err := cfg.Set(key, value); err != nil {
			return err
		}
		if err := checkSettings(cfg); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		// On record before it is in force: a change the audit log
		// cannot hold is not made.
		svc, closeSvc, err := openService(ctx, cfg, defaultServeOptions())
		if err != nil {
			return err
		}
		defer closeSvc()
		return svc.RecordConfigChange(ctx, key)
	})
	if err != nil {
		return withConfigPath(err, dir)
	}
	after := s.Get(effectiveSettings(cfg))
	fmt.Printf("%s: %s -> %s\n", key, cmpOr(before, "(none)"), cmpOr(after, "(none)"))
	if s.Live {
		fmt.Println("running servers apply it when they get SIGHUP (kill -HUP <pid>, docker kill -s HUP <container>)")
	} else {
		fmt.Println("running servers apply it when they restart")
	}
	return nil
}

// settingFlags are the settings as setup flags, each with its environment
// variable: what the first run writes into the sealed config.
type settingFlags struct {
	values map[string]string // key -> value from a flag
}

// addSettingFlags registers a flag per setting, except those in skip
// (flags the command defines otherwise).
func addSettingFlags(fs *flag.FlagSet, skip ...string) *settingFlags {
	sf := &settingFlags{values: map[string]string{}}
	for _, s := range setup.Settings() {
		if slices.Contains(skip, s.Key) {
			continue
		}
		fs.Func(s.Flag(), "setting: "+s.Help+" (env "+s.Env()+")", func(v string) error {
			sf.values[s.Key] = v
			return nil
		})
	}
	return sf
}

// apply writes the flags' values, and for settings without a flag their
// environment variables, into o's settings, checked as config set checks
// them.
func (sf *settingFlags) apply(o *setup.Options) error {
	cfg := &setup.Config{Listen: o.Listen, Server: o.Server}
	for _, s := range setup.Settings() {
		v, ok := sf.values[s.Key]
		flagName := "--" + s.Flag()
		if !ok {
			if v, ok = os.LookupEnv(s.Env()); !ok || s.Key == "listen" {
				continue
			}
			flagName = "$" + s.Env()
		}
		if err := s.Set(cfg, v); err != nil {
			return usageError{fmt.Sprintf("%s: %s", flagName, strings.TrimPrefix(err.Error(), "setup: "))}
		}
	}
	if err := cfg.Server.Validate(); err != nil {
		return err
	}
	if err := checkSettings(cfg); err != nil {
		return err
	}
	o.Server = cfg.Server
	return nil
}

// withConfigPath names the config file in an error about opening it.
func withConfigPath(err error, dir string) error {
	if errors.Is(err, setup.ErrWrongPassword) || errors.Is(err, setup.ErrMalformedConfig) || errors.Is(err, setup.ErrUnsupportedVersion) {
		return fmt.Errorf("%w (config file %s)", err, setup.ConfigPath(dir))
	}
	return err
}

// warnIgnoredEnv names the settings' environment variables that differ
// from the sealed config: they seed the first run only, and a changed
// container environment must not look as if it were applied.
func warnIgnoredEnv(cfg *setup.Config) {
	for _, s := range setup.Settings() {
		v, ok := os.LookupEnv(s.Env())
		if !ok || s.Key == "listen" { // $ACCOUNTD_LISTEN is also serve's --listen
			continue
		}
		probe := *cfg
		if err := probe.Set(s.Key, v); err != nil || s.Get(&probe) != s.Get(cfg) {
			fmt.Fprintf(os.Stderr, "accountd: warning: $%s is ignored: the sealed config has %s=%s; change it with 'accountd config set %s ...'\n",
				s.Env(), s.Key, cmpOr(s.Get(effectiveSettings(cfg)), "(none)"), s.Key)
		}
	}
}
