package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// cliEnv is the process environment a command may use. Commands read the
// environment only through getenv, so tests can run them in parallel.
type cliEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newRootCommand(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "backchannel",
		Short:         "A CIBA-first OpenID Provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCommand(env),
		newClientCommand(env),
		newUserCommand(env),
		newDeviceCommand(env),
		newKeysCommand(env),
		newLoginCommand(env),
		newAuditCommand(env),
		newMigrateCommand(env),
		newBenchCommand(env),
	)
	return root
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
