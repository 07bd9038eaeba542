package device_test

import (
	"testing"

	"github.com/backchannel/backchannel/device"
)

// TestHubNotifyAll checks that NotifyAll, which follows a lost
// connection to the other instances' wake-ups, wakes every subject's
// subscribers once each.
func TestHubNotifyAll(t *testing.T) {
	var h device.Hub
	a, cancelA := h.Subscribe("alice")
	defer cancelA()
	b, cancelB := h.Subscribe("bob")
	defer cancelB()
	h.NotifyAll()
	h.NotifyAll() // merged into the first
	for name, ch := range map[string]<-chan struct{}{"alice": a, "bob": b} {
		if !woken(ch) {
			t.Errorf("NotifyAll did not wake %s", name)
		}
		if woken(ch) {
			t.Errorf("NotifyAll twice woke %s twice, want the wake-ups merged", name)
		}
	}
}
