package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
)

// runUser manages accounts from the command line, for the first admin and for scripts:
//
//	mentor user add --login wang --name 王老师 [--admin] [--locale en]
//	mentor user disable wang
//	mentor user enable wang
//	mentor user reset-password wang
//
// Passwords are read from standard input (one line), or generated and printed when stdin is
// empty, so they never appear in shell history or process listings.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var databaseURL, login, name, locale string
	var admin bool
	f := newFlagSet("mentor user", "add|disable|enable|reset-password [LOGIN]",
		"Manages accounts. A password is read from standard input, or generated and printed if none is given.", stderr)
	f.StringVar(&databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&login, "login", "", "add: the login (email or username)")
	f.StringVar(&name, "name", "", "add: the display name")
	f.StringVar(&locale, "locale", "zh-CN", "add: zh-CN or en")
	f.BoolVar(&admin, "admin", false, "add: make an instance administrator")
	// The action comes first (mentor user add --login …): flag parsing stops at the first
	// argument that is not a flag, so it is taken off before parsing.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := f.parse(args, getenv); err != nil {
			return err
		}
		f.Usage()
		return errUsage
	}
	action := args[0]
	if err := f.parse(args[1:], getenv); err != nil {
		return err
	}
	if err := checkDatabaseURL(f, databaseURL); err != nil {
		return err
	}
	pool, err := openMigrated(ctx, f, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, log := auth.NewStore(pool, nil), audit.New(pool)
	target := login
	if f.NArg() > 0 {
		target = f.Arg(0)
	}
	if target == "" {
		return fmt.Errorf("mentor user %s: name the login (--login or as an argument)", action)
	}
	event := func(action string, details map[string]any) error {
		return log.Record(ctx, audit.Event{Actor: "cli:" + currentOSUser(getenv), Action: action, Target: auth.NormalizeLogin(target), Details: details})
	}

	switch action {
	case "add":
		if name == "" {
			name = target
		}
		password, generated, err := readPassword(stdin)
		if err != nil {
			return err
		}
		u, err := store.CreateUser(ctx, auth.NewUser{Login: target, DisplayName: name, Locale: locale, Password: password, IsAdmin: admin})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s (id %d, admin %t)\n", u.Login, u.ID, u.IsAdmin)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
		return event(audit.UserCreated, map[string]any{"is_admin": u.IsAdmin})
	case "disable", "enable":
		u, err := store.UserByLogin(ctx, target)
		if err != nil {
			return err
		}
		if err := store.SetDisabled(ctx, u.ID, action == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd %s\n", action, u.Login)
		if action == "disable" {
			return event(audit.UserDisabled, nil)
		}
		return event(audit.UserEnabled, nil)
	case "reset-password":
		u, err := store.UserByLogin(ctx, target)
		if err != nil {
			return err
		}
		password, generated, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := store.SetPassword(ctx, u.ID, password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset the password of %s; their sessions have ended\n", u.Login)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
		return event(audit.PasswordReset, map[string]any{"by": "cli"})
	default:
		return fmt.Errorf("mentor user: unknown action %q (want add, disable, enable or reset-password)", action)
	}
}

// readPassword takes the first line of stdin, or generates a password when there is none.
func readPassword(stdin io.Reader) (string, bool, error) {
	if stdin != nil {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", false, err
		}
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			return line, false, nil
		}
	}
	return auth.RandomPassword(), true, nil
}

func currentOSUser(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
