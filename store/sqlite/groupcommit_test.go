package sqlite_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// TestGroupCommit holds the writer in one transaction while others queue
// behind it, so that they run as one group: the ones that fail, or
// panic, leave nothing behind and get their own error or panic; the
// others all commit, each seeing the one before it.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	const n = 24
	for i := range n {
		if err := s.CreateRequest(ctx, store.Request{ID: fmt.Sprint("r", i), State: store.Pending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRequest(ctx, store.Request{ID: "counter", State: store.Pending, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.UpdateRequest(ctx, "r0", func(r *store.Request) (store.Effects, error) {
			close(holding)
			<-release
			r.State = store.Approved
			return store.Effects{}, nil
		})
		first <- err
	}()
	<-holding

	errFail := errors.New("decide fails")
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			// Each also bumps a shared counter (Binding), so lost or
			// torn updates inside a group would show.
			_, errs[i] = s.UpdateRequest(ctx, fmt.Sprint("r", i), func(r *store.Request) (store.Effects, error) {
				r.State = store.Approved
				switch i % 4 {
				case 1:
					return store.Effects{}, errFail
				case 2:
					panic("decide panics")
				}
				return store.Effects{Audit: []store.AuditEvent{{ID: fmt.Sprint("e", i), At: time.Now(), Kind: "request.approved", RequestID: r.ID}}}, nil
			})
			if errs[i] == nil {
				_, errs[i] = s.UpdateRequest(ctx, "counter", func(r *store.Request) (store.Effects, error) {
					r.Binding += "x"
					return store.Effects{}, nil
				})
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let them queue behind r0
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("UpdateRequest(r0) = %v", err)
	}
	committed := 1
	for i := 1; i < n; i++ {
		r, err := s.Request(ctx, fmt.Sprint("r", i))
		if err != nil {
			t.Fatal(err)
		}
		events, err := s.AuditEvents(ctx, store.AuditQuery{RequestID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			if !errors.Is(errs[i], errFail) || r.State != store.Pending || len(events) != 0 {
				t.Errorf("failing update %d = %v, state %s, %d events; want its error and nothing saved", i, errs[i], r.State, len(events))
			}
		case 2:
			if panics[i] != "decide panics" || r.State != store.Pending || len(events) != 0 {
				t.Errorf("panicking update %d: recovered %v, state %s, %d events; want the panic and nothing saved", i, panics[i], r.State, len(events))
			}
		default:
			if errs[i] != nil || panics[i] != nil || r.State != store.Approved || len(events) != 1 {
				t.Errorf("update %d = %v (panic %v), state %s, %d events; want it saved with its event", i, errs[i], panics[i], r.State, len(events))
			}
			committed++
		}
	}
	c, err := s.Request(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := committed - 1; len(c.Binding) != want {
		t.Errorf("counter = %d increments, want %d", len(c.Binding), want)
	}
}
