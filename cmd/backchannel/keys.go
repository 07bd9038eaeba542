package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func newKeysCommand(env *cliEnv) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "keys", Short: "Manage the server's signing keys (admin API)"}
	af.register(cmd)
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key active",
		Long: `Make a new signing key active, for one alg (--alg) or every configured
alg. Retired public keys stay published at jwks_uri until every token they
signed has expired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out map[string]string
			if err := ac.do(cmd.Context(), http.MethodPost, "/keys/rotate", map[string]string{"alg": alg}, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out)
			}
			fmt.Fprintf(env.stdout, "active key: %s\n", out["kid"])
			return nil
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "", "rotate only this alg's key")
	list := &cobra.Command{
		Use: "list", Short: "List the published public keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out map[string]any
			if err := ac.do(cmd.Context(), http.MethodGet, "/keys", nil, &out); err != nil {
				return err
			}
			return printJSON(env.stdout, out)
		},
	}
	cmd.AddCommand(rotate, list)
	return cmd
}
