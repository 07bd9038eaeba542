package device_test

import (
	"fmt"
	"testing"

	"github.com/backchannel/backchannel/device"
)

// BenchmarkHubNotify measures one wake-up of a user with n open streams
// while other users hold streams too: the SSE fan-out of every request
// created or decided.
func BenchmarkHubNotify(b *testing.B) {
	for _, n := range []int{1, 16, 1024} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			var h device.Hub
			for i := range 1000 {
				_, cancel := h.Subscribe(fmt.Sprintf("other-%d", i))
				b.Cleanup(cancel)
			}
			chans := make([]<-chan struct{}, n)
			for i := range n {
				ch, cancel := h.Subscribe("alice")
				b.Cleanup(cancel)
				chans[i] = ch
			}
			b.ReportAllocs()
			for b.Loop() {
				h.Notify("alice")
				for _, ch := range chans {
					select { // drain, as each stream does
					case <-ch:
					default:
					}
				}
			}
		})
	}
}
