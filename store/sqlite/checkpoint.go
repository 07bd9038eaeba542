package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints. In WAL mode every commit appends the pages it changed to
// the write-ahead log, and a checkpoint copies them back into the
// database file and syncs it. SQLite's automatic checkpoint runs inside
// the commit that crosses its threshold, on the single writer: under
// load a twentieth of the server's CPU and, on a large database, a stall
// of every write queued behind it (docs/performance.md). The Store
// instead checkpoints on a connection of its own, at most every
// checkpointEvery while writes come in. A passive checkpoint never waits
// for the writer or readers, nor they for it. The writer keeps an
// automatic checkpoint at walSafetyPages, far above what one interval
// writes, for the case where the background checkpoints cannot finish
// (a reader holding an old snapshot for a long time).
const (
	checkpointEvery = 250 * time.Millisecond
	walSafetyPages  = 16384 // 64 MiB of 4 KiB pages
)

// checkpointer runs a passive checkpoint on db after writes, until
// s.closed is closed.
func (s *Store) checkpointer(db *sql.DB) {
	defer close(s.checkpointerDone)
	for {
		select {
		case <-s.wrote:
		case <-s.closed:
			return
		}
		// An error (SQLITE_BUSY while another process checkpoints, say)
		// leaves the pages in the log for the next round, or for the
		// writer's automatic checkpoint.
		_, _ = db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		select {
		case <-time.After(checkpointEvery):
		case <-s.closed:
			return
		}
	}
}

// noteWrite tells the checkpointer that a transaction committed.
func (s *Store) noteWrite() {
	select {
	case s.wrote <- struct{}{}:
	default:
	}
}
