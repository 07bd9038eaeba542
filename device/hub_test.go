package device_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/backchannel/backchannel/device"
)

// woken reports whether ch holds a wake-up, taking it.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHubFanOut(t *testing.T) {
	var h device.Hub
	a1, c1 := h.Subscribe("alice")
	defer c1()
	a2, c2 := h.Subscribe("alice")
	defer c2()
	b, c3 := h.Subscribe("bob")
	defer c3()

	h.Notify("alice")
	if !woken(a1) || !woken(a2) {
		t.Error("Notify(alice) did not wake both of alice's subscribers")
	}
	if woken(b) {
		t.Error("Notify(alice) woke bob's subscriber")
	}
	h.Notify("carol") // nobody listens: must not block or panic
	if woken(a1) || woken(b) {
		t.Error("Notify(carol) woke someone")
	}
}

func TestHubCoalesces(t *testing.T) {
	var h device.Hub
	ch, cancel := h.Subscribe("alice")
	defer cancel()
	for range 5 {
		h.Notify("alice") // must not block on a full buffer
	}
	if !woken(ch) {
		t.Fatal("no wake-up after Notify")
	}
	if woken(ch) {
		t.Error("five Notify calls gave two wake-ups, want them merged into one")
	}
	h.Notify("alice")
	if !woken(ch) {
		t.Error("no wake-up after a Notify that followed a taken one")
	}
}

func TestHubUnsubscribe(t *testing.T) {
	var h device.Hub
	ch, cancel := h.Subscribe("alice")
	other, cancelOther := h.Subscribe("alice")
	defer cancelOther()
	if got := h.Subscribers(); got != 2 {
		t.Fatalf("Subscribers() = %d, want 2", got)
	}
	cancel()
	cancel() // idempotent
	if got := h.Subscribers(); got != 1 {
		t.Fatalf("Subscribers() after cancel = %d, want 1", got)
	}
	h.Notify("alice")
	if woken(ch) {
		t.Error("a cancelled subscription was woken")
	}
	if !woken(other) {
		t.Error("the remaining subscription was not woken")
	}
	cancelOther()
	if got := h.Subscribers(); got != 0 {
		t.Errorf("Subscribers() after all cancels = %d, want 0", got)
	}
}

// TestHubConcurrent runs many streams that subscribe, wait for wake-ups
// and leave, against notifiers, in a synctest bubble: the bubble fails the
// test if any goroutine is left behind, and the hub must end empty.
func TestHubConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h device.Hub
		ctx, stop := context.WithCancel(t.Context())
		const streams = 1000
		var ready, done sync.WaitGroup
		wakes := make([]int, streams)
		for i := range streams {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ch, cancel := h.Subscribe([]string{"alice", "bob"}[i%2])
				defer cancel()
				ready.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-ch:
						wakes[i]++
					}
				}
			}()
		}
		ready.Wait()
		if got := h.Subscribers(); got != streams {
			t.Fatalf("Subscribers() = %d, want %d", got, streams)
		}
		h.Notify("alice")
		synctest.Wait() // every stream has taken its wake-up or is blocked
		for i, n := range wakes {
			want := 0
			if i%2 == 0 {
				want = 1
			}
			if n != want {
				t.Fatalf("stream %d woke %d times, want %d", i, n, want)
			}
		}
		stop()
		done.Wait()
		if got := h.Subscribers(); got != 0 {
			t.Errorf("Subscribers() after every stream left = %d, want 0", got)
		}
	})
}
