package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestBenchFill(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "fill.db")
	st, err := openStore(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp := time.Now().Add(time.Hour)
	n, err := fillPending(t.Context(), st, 500, "c1", 7, exp, 8)
	if err != nil || n != 500 {
		t.Fatalf("fillPending = %d, %v; want 500", n, err)
	}
	total := 0
	for u := range 7 {
		list, err := st.PendingRequests(t.Context(), fmt.Sprintf("fill-user-%d", u), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		total += len(list)
	}
	if total != 500 {
		t.Errorf("%d pending requests over the 7 users, want 500", total)
	}
}
