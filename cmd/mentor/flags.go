package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// errUsage marks an error already explained to the user with usage text.
var errUsage = errors.New("usage error")

// flagSet is a flag.FlagSet whose flags may each fall back to an environment variable.
// Precedence: a flag on the command line, then the variable, then the default.
type flagSet struct {
	*flag.FlagSet
	summary string
	envOf   map[string]string // flag name -> variable
	setBy   map[string]string // flag name -> "--flag" or "VARIABLE", whichever gave its value
	args    string            // positional arguments, for the usage line
}

func newFlagSet(name, args, summary string, stderr io.Writer) *flagSet {
	f := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), summary: summary,
		envOf: map[string]string{}, setBy: map[string]string{}, args: args}
	f.SetOutput(stderr)
	f.Usage = func() { f.printUsage(stderr) }
	return f
}

// env ties the flag called name to the environment variable v.
func (f *flagSet) env(name, v string) { f.envOf[name] = v }

// parse reads the command line, then fills every flag it did not set from the environment.
// Errors name the variable or flag that was wrong.
func (f *flagSet) parse(args []string, getenv func(string) string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	f.Visit(func(fl *flag.Flag) { f.setBy[fl.Name] = "--" + fl.Name })
	for name, v := range f.envOf {
		val := getenv(v)
		if _, set := f.setBy[name]; set || val == "" {
			continue
		}
		if err := f.Set(name, val); err != nil {
			if bf, ok := f.Lookup(name).Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				return fmt.Errorf("%s=%q: want true or false", v, val)
			}
			return fmt.Errorf("%s=%q: %w", v, val, err)
		}
		f.setBy[name] = v
	}
	return nil
}

// source names where a flag's value came from, for error messages.
func (f *flagSet) source(name string) string {
	if by, ok := f.setBy[name]; ok {
		return by
	}
	if v, ok := f.envOf[name]; ok {
		return "--" + name + " / " + v
	}
	return "--" + name
}

func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags] %s\n\n%s\n\n", f.Name(), f.args, f.summary)
	fmt.Fprintln(w, "Flags (each may also be set by the environment variable shown; a flag wins):")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	f.VisitAll(func(fl *flag.Flag) {
		v := f.envOf[fl.Name]
		if v == "" {
			v = "-"
		}
		def := ""
		if fl.DefValue != "" && fl.DefValue != "false" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s%s\n", fl.Name, v, fl.Usage, def)
	})
	tw.Flush()
}

// oneOf validates that value is among allowed, naming the setting.
func oneOf(setting, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %s", setting, value, strings.Join(allowed, ", "))
}
