package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func newUserCommand(env *cliEnv) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "user", Short: "Manage end-users (admin API)"}
	af.register(cmd)

	var file string
	create := &cobra.Command{
		Use:   "create --file F",
		Short: "Create a user from a JSON document (- for stdin)",
		Long: `Create a user from a JSON document: "sub", the hint fields
"preferred_username", "email" and "phone_number", any other OpenID claims,
and an optional "user_code" (stored hashed). A login_hint matches the sub,
preferred_username, email or phone_number.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			doc, err := readDocument(env, file)
			if err != nil {
				return err
			}
			var out map[string]any
			if err := ac.do(cmd.Context(), http.MethodPost, "/users", doc, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out)
			}
			fmt.Fprintf(env.stdout, "created user %v\n", out["sub"])
			return nil
		},
	}
	create.Flags().StringVar(&file, "file", "", "JSON user document, - for stdin")

	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out struct {
				Users []map[string]any `json:"users"`
			}
			if err := ac.do(cmd.Context(), http.MethodGet, "/users", nil, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out.Users)
			}
			for _, u := range out.Users {
				fmt.Fprintf(env.stdout, "%v\t%v\t%v\n", u["sub"], orDash(u["preferred_username"]), orDash(u["email"]))
			}
			return nil
		},
	}
	one := func(use, short, method, suffix, verb string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ac, err := af.client(env)
				if err != nil {
					return err
				}
				var out json.RawMessage
				if err := ac.do(cmd.Context(), method, "/users/"+url.PathEscape(args[0])+suffix, nil, &out); err != nil {
					return err
				}
				if len(out) > 0 {
					return printJSON(env.stdout, out)
				}
				if af.json {
					return printJSON(env.stdout, map[string]string{verb: args[0]})
				}
				fmt.Fprintf(env.stdout, "%s user %s\n", verb, args[0])
				return nil
			},
		}
	}
	cmd.AddCommand(create, list,
		one("get SUB", "Show a user", http.MethodGet, "", "got"),
		one("delete SUB", "Delete a user", http.MethodDelete, "", "deleted"),
		one("unlock SUB", "Reset a user's failed user_code attempts", http.MethodPost, "/unlock", "unlocked"),
	)
	return cmd
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}
