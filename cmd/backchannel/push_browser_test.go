package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// TestBrowserPushDegrades: headless Chromium has no push service, so
// turning notifications on fails; the app must say so in words and keep
// receiving requests over the event stream. A request opened from a
// notification (#request=ID) is brought into view.
func TestBrowserPushDegrades(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startDevServer(t, bin, t.TempDir())
	b := newBrowser(t)
	device := enrolDevice(t, b, srv)
	// Allowed, so that the subscription itself is tried and fails.
	for _, name := range []string{"notifications", "push"} {
		inTab(t, device, "allow "+name, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name, UserVisibleOnly: true},
				Setting:    browser.PermissionSettingGranted, Origin: srv.issuer,
			})
			return err
		}))
	}
	inTab(t, device, "reload", chromedp.Reload(), waitJS(`document.querySelector("#status").textContent === "Connected"`))

	// Either the control is offered, or the app already explains why
	// there is none.
	inTab(t, device, "see the notifications control",
		waitJS(`!document.querySelector("#notify-button").hidden || !document.querySelector("#push-status").hidden`))
	if value(t, device, "read the control", chromedp.Evaluate[bool](`!document.querySelector("#notify-button").hidden`)) {
		inTab(t, device, "enable notifications",
			chromedp.Click(chromedp.CSS("#notify-button")),
			waitJS(`!document.querySelector("#push-status").hidden`),
		)
	}
	status := text(t, device, "#push-status")
	t.Logf("push status: %q", status)
	if !strings.Contains(status, "Keep this page open") {
		t.Errorf("push status %q, want it to say the page keeps working", status)
	}
	if e := text(t, device, "#error"); e != "" {
		t.Errorf("the app shows the error %q", e)
	}

	console := newTab(t, b)
	inTab(t, console, "open the demo console", chromedp.Navigate(srv.issuer+"/demo"), chromedp.WaitVisible(chromedp.CSS("#start-form")))
	startDemo(t, console, "Push 1")
	inTab(t, device, "see the request over the stream",
		waitJS(`[...document.querySelectorAll("#requests .binding")].some(e => e.textContent === "Push 1")`),
		// What the service worker's notificationclick opens.
		void(chromedp.Evaluate[any](`location.hash = "#request=" + document.querySelector("#requests .request").dataset.requestId`)),
		waitJS(`document.querySelector("#requests .request").classList.contains("focus") && location.hash === ""`),
	)
}
