package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func newClientCommand(env *cliEnv) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "client", Short: "Manage relying parties (admin API)"}
	af.register(cmd)

	var file string
	create := &cobra.Command{
		Use:   "create --file F",
		Short: "Register a client from an RFC 7591 / CIBA metadata document (- for stdin)",
		Long: `Register a client from a JSON document of RFC 7591 and CIBA client
metadata, for example:

  {"client_name": "Call Centre", "grant_types": ["urn:openid:params:grant-type:ciba"],
   "token_endpoint_auth_method": "client_secret_basic",
   "backchannel_token_delivery_mode": "poll"}

It prints the registered client with its client_id and client_secret; the
secret is shown only now.`,
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
			if err := ac.do(cmd.Context(), http.MethodPost, "/clients", doc, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out)
			}
			fmt.Fprintf(env.stdout, "client_id:     %v\n", out["client_id"])
			if s, ok := out["client_secret"]; ok {
				fmt.Fprintf(env.stdout, "client_secret: %v\n(the secret is stored hashed and cannot be shown again)\n", s)
			}
			return nil
		},
	}
	create.Flags().StringVar(&file, "file", "", "JSON metadata document, - for stdin")

	list := &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out struct {
				Clients []map[string]any `json:"clients"`
			}
			if err := ac.do(cmd.Context(), http.MethodGet, "/clients", nil, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out.Clients)
			}
			for _, c := range out.Clients {
				fmt.Fprintf(env.stdout, "%v\t%v\t%v\t%v\n", c["client_id"], c["backchannel_token_delivery_mode"], c["token_endpoint_auth_method"], c["client_name"])
			}
			return nil
		},
	}
	get := &cobra.Command{
		Use: "get CLIENT_ID", Short: "Show a client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := ac.do(cmd.Context(), http.MethodGet, "/clients/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(env.stdout, out)
		},
	}
	del := &cobra.Command{
		Use: "delete CLIENT_ID", Short: "Delete a client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			if err := ac.do(cmd.Context(), http.MethodDelete, "/clients/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(env.stdout, "deleted client %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, get, del)
	return cmd
}
