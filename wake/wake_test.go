package wake_test

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel/wake"
)

func TestLocal(t *testing.T) {
	var l wake.Local
	devices, stop := l.Subscribe(wake.Device)
	outbox, stopOutbox := l.Subscribe(wake.Outbox)
	defer stopOutbox()

	// Nobody is reading: Publish must not block, and a repeated key
	// waits in the queue once (it may also be the one already handed
	// over).
	for _, k := range []string{"u-1", "u-2", "u-1"} {
		l.Publish(t.Context(), wake.Device, k)
	}
	l.Publish(t.Context(), wake.Outbox, "")
	if got := drain(devices); len(got) < 2 || len(got) > 3 || got[0] != "u-1" || got[1] != "u-2" {
		t.Errorf("wake-ups = %q, want u-1, u-2 and at most one more u-1", got)
	}
	next(t, outbox, "")

	// Past its limit of distinct keys a subscription holds one Resync,
	// which stands for them all; at most the key already handed over
	// comes before it.
	for i := range 5000 {
		l.Publish(t.Context(), wake.Device, string(rune('a'+i%26))+string(rune(i)))
	}
	l.Publish(t.Context(), wake.Device, "after")
	if got := drain(devices); len(got) == 0 || len(got) > 2 || got[len(got)-1] != wake.Resync {
		t.Errorf("wake-ups after an overflow = %q, want at most one key, then Resync", got)
	}

	l.ResyncAll()
	next(t, devices, wake.Resync)
	next(t, outbox, wake.Resync)

	stop()
	stop() // twice is fine
	l.Publish(t.Context(), wake.Device, "u-3")
	none(t, devices)
}

func next(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("wake-up = %q, want %q", got, want)
		}
	case <-time.After(time.Second):
		t.Fatalf("no wake-up %q within 1 s", want)
	}
}

func none(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected wake-up %q", got)
	case <-time.After(50 * time.Millisecond):
	}
}

// drain returns what ch delivers until it is quiet for 50 ms.
func drain(ch <-chan string) []string {
	var got []string
	for {
		select {
		case k := <-ch:
			got = append(got, k)
		case <-time.After(50 * time.Millisecond):
			return got
		}
	}
}
