package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile and returns
// the context of its first tab. Without Chromium the test is skipped,
// except in CI, where it fails.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need %s in CI (apt-get install -y chromium): %v", chromiumPath, err)
		}
		t.Skipf("browser tests skipped: %s not found (apt-get install -y chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newTab opens another tab of the browser of ctx.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	// The first run opens the tab, which lives as long as that run's
	// context: so no deadline here.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// inTab runs actions in a tab with a deadline, failing the test with what
// was being done.
func inTab(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value in a tab.
func value[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// void drops the value of an action.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := a(ctx, tg)
		return err
	})
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond)))
}

// text is the text of the element with the CSS selector sel.
func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	return value(t, tab, "read "+sel, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
}

// screenshot saves a PNG of the tab's viewport in the directory named by
// BACKCHANNEL_SCREENSHOTS, if set (the README's pictures are made so).
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("BACKCHANNEL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := value(t, tab, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startDemo starts a request from the demo console and waits until the
// console shows it pending.
func startDemo(t *testing.T, console context.Context, binding string) {
	t.Helper()
	inTab(t, console, "start a request in the demo console",
		chromedp.SetValue(chromedp.CSS("#binding-message"), binding),
		chromedp.Click(chromedp.CSS("#start-button")),
		waitJS(`document.querySelector("#run-state").textContent === "pending"`),
	)
}

// answer waits for the request with the binding message on the device and
// clicks one of its buttons.
func answer(t *testing.T, device context.Context, binding, button string) {
	t.Helper()
	card := fmt.Sprintf(`[...document.querySelectorAll("#requests .request")].find(e => e.querySelector(".binding").textContent === %q)`, binding)
	inTab(t, device, "see "+binding+" on the device",
		waitJS(card+` !== undefined`),
		void(chromedp.Evaluate[any](card+`.querySelector(".`+button+`").click()`)),
		waitJS(card+` === undefined`),
	)
}

// TestBrowserDeviceAndConsole is the story of the issue: an operator
// starts a request in the demo console; the customer, on a device
// enrolled through the link in the web app, sees the binding message and
// answers; the console follows the request to its end.
func TestBrowserDeviceAndConsole(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKCHANNEL_CIBA_AUTHORIZATION_DETAILS_TYPES", "payment_initiation") // read by the server process
	srv := startDevServer(t, bin, t.TempDir())
	browser := newBrowser(t)
	device := enrolDevice(t, browser, srv)

	// The app is an installable PWA: Chromium finds its manifest, icon and
	// service worker good enough to offer installation.
	inTab(t, device, "wait for the service worker",
		void(chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then(() => true)`, chromedp.EvalAwaitPromise)))
	installability := value(t, device, "ask whether the app is installable",
		chromedp.Action[page.GetInstallabilityErrorsResult](func(ctx context.Context, tg *chromedp.Target) (page.GetInstallabilityErrorsResult, error) {
			return cdp.Call(ctx, tg, page.GetInstallabilityErrors, cdp.Empty{})
		}))
	for _, e := range installability.InstallabilityErrors {
		t.Errorf("the device app is not installable: %s", e.ErrorID)
	}

	console := newTab(t, browser)
	inTab(t, console, "open the demo console", chromedp.Navigate(srv.issuer+"/demo"), chromedp.WaitVisible(chromedp.CSS("#start-form")))

	t.Run("Approve", func(t *testing.T) {
		const payment = `[{"type": "payment_initiation", "instructedAmount": {"currency": "EUR", "amount": "123.50"}, "creditorName": "Merchant A"}]`
		inTab(t, console, "ask for a payment", chromedp.SetValue(chromedp.CSS("#authorization-details"), payment))
		startDemo(t, console, "Okinawa 4711")
		inTab(t, console, "ask for no payment", void(chromedp.Evaluate[string](`document.querySelector("#authorization-details").value = ""`)))
		inTab(t, device, "see the request",
			waitJS(`[...document.querySelectorAll("#requests .binding")].some(e => e.textContent === "Okinawa 4711")`),
			waitJS(`document.querySelector("#requests .countdown").textContent.startsWith("Expires in")`),
		)
		details := text(t, device, "#requests .details")
		for _, want := range []string{"Payment initiation", "Instructed amount", "EUR", "123.50", "Creditor name", "Merchant A"} {
			if !strings.Contains(details, want) {
				t.Errorf("authorization_details shown as %q, want %q in it", details, want)
			}
		}
		scopes := text(t, device, "#requests .scopes")
		if !strings.Contains(scopes, "Your email address") {
			t.Errorf("scopes shown %q, want them in plain words", scopes)
		}
		screenshot(t, device, "device-app.png")
		answer(t, device, "Okinawa 4711", "approve")
		inTab(t, console, "see the tokens",
			waitJS(`document.querySelector("#run-state").textContent === "approved"`),
			chromedp.WaitVisible(chromedp.CSS("#claims-box")),
		)
		claims := text(t, console, "#claims")
		for _, want := range []string{"sub", "demo-user", "amr", "hwk", "acr"} {
			if !strings.Contains(claims, want) {
				t.Errorf("console claims %q lack %q", claims, want)
			}
		}
		outcome := text(t, device, "#last-outcome")
		if !strings.HasPrefix(outcome, "You approved") {
			t.Errorf("device outcome %q, want an approval", outcome)
		}
	})

	t.Run("Passkey", func(t *testing.T) {
		// The phone's platform authenticator: Chromium's virtual one, which
		// verifies the user (as a fingerprint would) and keeps passkeys.
		addAuthenticator(t, device)
		inTab(t, device, "set up a passkey",
			chromedp.WaitVisible(chromedp.CSS("#passkey-button")),
			chromedp.Click(chromedp.CSS("#passkey-button")),
			waitJS(`document.querySelector("#passkey-state").textContent.includes("passkey set up")`),
			waitJS(`document.querySelector("#passkey-panel").hidden`),
		)
		inTab(t, console, "require a passkey", chromedp.Click(chromedp.CSS("#require-passkey")))
		startDemo(t, console, "Okinawa 8080")
		inTab(t, console, "stop requiring one", chromedp.Click(chromedp.CSS("#require-passkey")))
		inTab(t, device, "see that it needs the passkey",
			waitJS(`[...document.querySelectorAll("#requests .acr.passkey")].some(e => !e.hidden)`))
		screenshot(t, device, "device-passkey.png")
		answer(t, device, "Okinawa 8080", "approve")
		inTab(t, console, "see the tokens",
			waitJS(`document.querySelector("#run-state").textContent === "approved"`),
			chromedp.WaitVisible(chromedp.CSS("#claims-box")),
		)
		claims := text(t, console, "#claims")
		for _, want := range []string{"urn:backchannel:acr:passkey", "mfa"} {
			if !strings.Contains(claims, want) {
				t.Errorf("console claims %q lack %q", claims, want)
			}
		}
		screenshot(t, console, "demo-console.png")
		if outcome := text(t, device, "#last-outcome"); !strings.HasPrefix(outcome, "You approved") {
			t.Errorf("device outcome %q, want an approval", outcome)
		}
	})

	for _, tt := range []struct{ name, button, binding, outcome string }{
		{"Deny", "deny", "Tokyo 1", "You denied"},
		{"NotMe", "not-me", "Tokyo 2", "You reported and denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			startDemo(t, console, tt.binding)
			answer(t, device, tt.binding, tt.button)
			inTab(t, console, "see the denial", waitJS(`document.querySelector("#run-state").textContent === "denied"`))
			outcome := text(t, device, "#last-outcome")
			if !strings.HasPrefix(outcome, tt.outcome) {
				t.Errorf("device outcome %q, want %q…", outcome, tt.outcome)
			}
			if tt.button == "not-me" {
				// The report reaches the server: it is counted per client.
				resp, err := http.Get(srv.issuer + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := `backchannel_reports_not_me_total{client_id="demo-client"} 1`; !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// addAuthenticator gives the tab a virtual platform authenticator that
// keeps passkeys and verifies the user at once.
func addAuthenticator(t *testing.T, tab context.Context) {
	t.Helper()
	inTab(t, tab, "add a virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return err
	}))
}

// enrolDevice opens the enrolment link of srv in a new phone-sized tab,
// enrols, and waits until the app follows the user's requests.
func enrolDevice(t *testing.T, browser context.Context, srv *devServer) context.Context {
	t.Helper()
	device := newTab(t, browser)
	inTab(t, device, "enrol through the link",
		chromedp.EmulateViewport(412, 900),
		chromedp.Navigate(srv.issuer+"/device#enrol="+srv.code),
		chromedp.WaitVisible(chromedp.CSS("#enrol-button")),
		chromedp.SetValue(chromedp.CSS("#device-name"), "Test phone"),
		chromedp.Click(chromedp.CSS("#enrol-button")),
		waitJS(`document.querySelector("#status").textContent === "Connected"`),
	)
	subject := text(t, device, "#subject")
	hash := value(t, device, "read the URL", chromedp.Evaluate[string](`location.hash`))
	if subject != "demo-user" || hash != "" {
		t.Fatalf("after enrolment: subject %q, location.hash %q; want demo-user and no code in the URL", subject, hash)
	}

	return device
}

// TestBrowserNumberMatching runs the server with number matching: the
// console shows the number the client was given, and the device lets the
// user approve only after picking one.
func TestBrowserNumberMatching(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKCHANNEL_CIBA_NUMBER_MATCHING", "true") // read by the server process
	srv := startDevServer(t, bin, t.TempDir())
	browser := newBrowser(t)
	device := enrolDevice(t, browser, srv)
	console := newTab(t, browser)
	inTab(t, console, "open the demo console", chromedp.Navigate(srv.issuer+"/demo"), chromedp.WaitVisible(chromedp.CSS("#start-form")))

	startDemo(t, console, "Match 1")
	number := text(t, console, "#matching-number")
	if len(number) != 2 {
		t.Fatalf("console matching number %q, want two digits", number)
	}
	inTab(t, device, "see the choices",
		waitJS(`document.querySelectorAll("#requests .request .number").length === 3`),
		waitJS(`document.querySelector("#requests .request .approve").disabled`),
		void(chromedp.Evaluate[any](fmt.Sprintf(`[...document.querySelectorAll("#requests .number")].find(b => b.textContent === %q).click()`, number))),
		waitJS(`!document.querySelector("#requests .request .approve").disabled`),
	)
	screenshot(t, device, "device-number-matching.png")
	answer(t, device, "Match 1", "approve")
	inTab(t, console, "see the tokens", waitJS(`document.querySelector("#run-state").textContent === "approved"`))
}
