package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/oauth"
)

// newDeviceCommand returns `backchannel device`: enrolment and device
// management through the admin API (enroll, list, revoke), and a terminal
// authentication device on the device API (register, watch).
func newDeviceCommand(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Enrol and manage authentication devices, or act as one",
	}
	var af adminFlags
	enroll, list, revoke := newDeviceEnrollCommand(env, &af), newDeviceListCommand(env, &af), newDeviceRevokeCommand(env, &af)
	for _, c := range []*cobra.Command{enroll, list, revoke} {
		af.register(c)
	}
	cmd.AddCommand(enroll, list, revoke, newDeviceRegisterCommand(env), newDeviceWatchCommand(env))
	return cmd
}

// enrolmentOut is the admin API's answer to a new enrolment code.
type enrolmentOut struct {
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	QRPNG     string    `json:"qr_png,omitempty"`
}

func newDeviceEnrollCommand(env *cliEnv, af *adminFlags) *cobra.Command {
	var user string
	var noQR bool
	cmd := &cobra.Command{
		Use:   "enroll --user SUB",
		Short: "Create a single-use enrolment code for a user's device (admin API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return errors.New("--user is required")
			}
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out enrolmentOut
			if err := ac.do(cmd.Context(), http.MethodPost, "/enrolments", map[string]string{"subject": user}, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out)
			}
			issuer, _, _ := strings.Cut(out.URL, "/device#")
			fmt.Fprintf(env.stdout, "Enrolment code for %s (single use, valid until %s):\n\n    %s\n\n",
				user, out.ExpiresAt.Local().Format("15:04:05 MST"), out.Code)
			fmt.Fprintf(env.stdout, "Open on the phone:  %s\n", out.URL)
			if !noQR {
				if qr, err := device.QRText(out.URL); err == nil {
					fmt.Fprintf(env.stdout, "or scan it:\n\n%s\n", qr)
				}
			}
			fmt.Fprintf(env.stdout, "Or in a terminal:   backchannel device register --server %s --code %s --key-file device.json\n", issuer, out.Code)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user's subject (sub)")
	cmd.Flags().BoolVar(&noQR, "no-qr", false, "do not print the link as a QR code")
	return cmd
}

// deviceOut is a device as the admin API lists it.
type deviceOut struct {
	DeviceID  string     `json:"device_id"`
	Subject   string     `json:"subject"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func newDeviceListCommand(env *cliEnv, af *adminFlags) *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "list --user SUB",
		Short: "List a user's devices, revoked ones included (admin API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return errors.New("--user is required")
			}
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			var out struct {
				Devices []deviceOut `json:"devices"`
			}
			if err := ac.do(cmd.Context(), http.MethodGet, "/devices?subject="+url.QueryEscape(user), nil, &out); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, out.Devices)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tENROLLED\tSTATUS")
			for _, d := range out.Devices {
				status := "active"
				if d.RevokedAt != nil {
					status = "revoked " + d.RevokedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.DeviceID, printable(d.Name), d.CreatedAt.Local().Format(time.DateTime), status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user's subject (sub)")
	return cmd
}

func newDeviceRevokeCommand(env *cliEnv, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a device (admin API)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			if err := ac.do(cmd.Context(), http.MethodDelete, "/devices/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if af.json {
				return printJSON(env.stdout, map[string]any{"device_id": args[0], "revoked": true})
			}
			fmt.Fprintf(env.stdout, "revoked device %s\n", args[0])
			return nil
		},
	}
}

func newDeviceRegisterCommand(env *cliEnv) *cobra.Command {
	var server, code, keyFile, name string
	cmd := &cobra.Command{
		Use:   "register --server ISSUER --code CODE --key-file F",
		Short: "Enrol this terminal as an authentication device",
		Long: `Enrol this terminal as an authentication device of the user an
enrolment code was made for: create a device key, enrol it with the code,
and save the key, device id and server in the key file (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []error
			for flag, v := range map[string]string{"--server": server, "--code": code, "--key-file": keyFile} {
				if v == "" {
					problems = append(problems, fmt.Errorf("%s is required", flag))
				}
			}
			if err := errors.Join(problems...); err != nil {
				return err
			}
			// Never overwrite the key of another enrolled device.
			if _, err := os.Stat(keyFile); err == nil {
				return fmt.Errorf("%s exists; choose another --key-file", keyFile)
			}
			if name == "" {
				host, _ := os.Hostname()
				name = strings.TrimSpace("terminal " + host)
			}
			creds, err := agent.Register(cmd.Context(), &http.Client{Timeout: 30 * time.Second}, strings.TrimSuffix(server, "/"), code, name)
			if err != nil {
				return err
			}
			if err := creds.Save(keyFile); err != nil {
				return fmt.Errorf("save credentials: %w", err)
			}
			fmt.Fprintf(env.stdout, "registered device %s for %s; its key is in %s\n", creds.DeviceID, creds.Subject, keyFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "the server's issuer URL")
	f.StringVar(&code, "code", "", "the enrolment code")
	f.StringVar(&keyFile, "key-file", "", "file to save the device key and id in (must not exist)")
	f.StringVar(&name, "name", "", `the device's display name (default "terminal HOSTNAME")`)
	return cmd
}

// errAnswered stops watch --once after its one answer.
var errAnswered = errors.New("answered")

func newDeviceWatchCommand(env *cliEnv) *cobra.Command {
	var keyFile string
	var approve, deny, interactive, once bool
	cmd := &cobra.Command{
		Use:   "watch --key-file F (--approve | --deny | --interactive)",
		Short: "Follow the user's pending requests and answer each",
		Long: `Follow the pending requests of the device's user and answer each: approve
all, deny all, or ask on the terminal. Each answer is logged on stdout. The
stream reconnects by itself; stop with Ctrl-C, or use --once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := count(approve, deny, interactive); n != 1 {
				return errors.New("give exactly one of --approve, --deny and --interactive")
			}
			if keyFile == "" {
				return errors.New("--key-file is required")
			}
			creds, err := agent.LoadCredentials(keyFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// No client timeout: the stream is meant to stay open.
			a, err := agent.New(ctx, &http.Client{}, creds)
			if err != nil {
				return err
			}
			a.OnRetry = func(err error, wait time.Duration) {
				fmt.Fprintf(env.stderr, "stream interrupted (%v); reconnecting in %v\n", err, wait.Round(100*time.Millisecond))
			}
			in := bufio.NewReader(env.stdin)
			fmt.Fprintf(env.stdout, "watching requests for %s on %s\n", creds.Subject, creds.Server)
			err = a.Stream(ctx, func(s ciba.Summary) error {
				yes := approve
				if interactive {
					showRequest(env.stdout, s, time.Now())
					if yes, err = ask(in, env.stdout); err != nil {
						return err
					}
				}
				if err := a.Decide(ctx, s, yes); err != nil {
					var oe *oauth.Error
					if errors.As(err, &oe) {
						// Expired or decided elsewhere meanwhile: say so and go on.
						fmt.Fprintf(env.stderr, "could not answer request %s: %v\n", s.RequestID, err)
						return nil
					}
					return err
				}
				verb := "denied"
				if yes {
					verb = "approved"
				}
				fmt.Fprintf(env.stdout, "%s %s: %s %q (%s)\n", time.Now().Format(time.TimeOnly), verb,
					printable(s.ClientName), printable(s.BindingMessage), strings.Join(s.Scopes, " "))
				if once {
					return errAnswered
				}
				return nil
			})
			if errors.Is(err, errAnswered) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key-file", "", "the device's key file (from device register)")
	f.BoolVar(&approve, "approve", false, "approve every request")
	f.BoolVar(&deny, "deny", false, "deny every request")
	f.BoolVar(&interactive, "interactive", false, "ask y/n for each request")
	f.BoolVar(&once, "once", false, "stop after the first answer")
	return cmd
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// showRequest prints what the user decides on: who asks, the binding
// message (CIBA Core §7.1: the user checks it against the consumption
// device, so it stands out in a box), the scopes and the expiry.
func showRequest(w io.Writer, s ciba.Summary, now time.Time) {
	msg := printable(s.BindingMessage)
	fmt.Fprintf(w, "\n%s asks you to approve a sign-in.\n\n", printable(s.ClientName))
	if msg != "" {
		width := utf8.RuneCountInString(msg) + 6
		fmt.Fprintf(w, "    ╔%s╗\n", strings.Repeat("═", width))
		fmt.Fprintf(w, "    ║   %s   ║\n", msg)
		fmt.Fprintf(w, "    ╚%s╝\n", strings.Repeat("═", width))
		fmt.Fprintln(w, "    Check that the other screen shows this message.")
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  Access:   %s\n", strings.Join(s.Scopes, " "))
	if len(s.ACRValues) > 0 {
		fmt.Fprintf(w, "  Level:    %s\n", strings.Join(s.ACRValues, " "))
	}
	exp := time.Unix(s.ExpiresAt, 0)
	fmt.Fprintf(w, "  Expires:  %s (in %v)\n", exp.Local().Format(time.TimeOnly), exp.Sub(now).Round(time.Second))
}

// ask asks y/n until it gets an answer.
func ask(in *bufio.Reader, out io.Writer) (bool, error) {
	for {
		fmt.Fprint(out, "Approve? [y/n]: ")
		line, err := in.ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("no answer: %w", err)
		}
	}
}

// printable replaces control and bidirectional-control characters, so
// that text from clients cannot move the cursor, recolour or reorder what
// the terminal shows (terminal escape injection).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, s)
}
